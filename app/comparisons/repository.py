"""Comparisons and their outputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import (
    Comparison,
    ComparisonTag,
    ExampleSet,
    Output,
    Rating,
    VariantVersion,
)

_COMPARISON_LOADS = (
    selectinload(Comparison.outputs)
    .selectinload(Output.variant_version)
    .options(selectinload(VariantVersion.variant), selectinload(VariantVersion.endpoint)),
    selectinload(Comparison.ratings).selectinload(Rating.scores),
    selectinload(Comparison.tags),
)


class ComparisonRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    def add(self, obj: Comparison | Output | Rating) -> None:
        self.session.add(obj)

    async def get(self, comparison_id: int) -> Comparison | None:
        stmt = select(Comparison).where(Comparison.id == comparison_id).options(*_COMPARISON_LOADS)
        return await self.session.scalar(stmt)


    async def list(self, *, limit: int, offset: int = 0, experiment_id: int | None = None) -> Sequence[Comparison]:
        stmt = (
            select(Comparison)
            .order_by(Comparison.id.desc())
            .limit(limit)
            .offset(offset)
            .options(*_COMPARISON_LOADS)
        )
        if experiment_id is not None:
            stmt = stmt.where(Comparison.experiment_id == experiment_id)
        return (await self.session.scalars(stmt)).all()

    async def count(self, *, experiment_id: int | None = None) -> int:
        stmt = select(func.count(Comparison.id))
        if experiment_id is not None:
            stmt = stmt.where(Comparison.experiment_id == experiment_id)
        return int(await self.session.scalar(stmt) or 0)

    async def versions_for_run(self, version_ids: Sequence[int]) -> dict[int, VariantVersion]:
        """Variant versions with everything a run needs (endpoint, examples, knowledge base), in one go."""
        stmt = (
            select(VariantVersion)
            .where(VariantVersion.id.in_(set(version_ids)))
            .options(
                selectinload(VariantVersion.variant),
                selectinload(VariantVersion.endpoint),
                selectinload(VariantVersion.knowledge_base),
                selectinload(VariantVersion.example_set).selectinload(ExampleSet.examples),
            )
        )
        return {v.id: v for v in (await self.session.scalars(stmt)).all()}

    async def finish_output(self, output_id: int, values: Mapping[str, Any]) -> None:
        await self.session.execute(update(Output).where(Output.id == output_id).values(**values))

    async def fail_pending_outputs(self, error: str, now: datetime) -> int:
        """Mark outputs left pending by a process that is gone (lease lapsed) as failed; returns how many.
        An experiment's outputs stay pending: the experiment's job owns and resumes them."""
        standalone = select(Comparison.id).where(Comparison.experiment_id.is_(None))
        result = await self.session.execute(
            update(Output)
            .where(
                Output.status == "pending",
                Output.comparison_id.in_(standalone),
                or_(Output.lease_until.is_(None), Output.lease_until < now),
            )
            .values(status="error", error=error, finished_at=now)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def renew_leases(self, output_ids: Iterable[int], until: datetime) -> None:
        await self.session.execute(
            update(Output)
            .where(Output.id.in_(list(output_ids)), Output.status == "pending")
            .values(lease_until=until)
        )

    async def datasets(self) -> Sequence[str]:
        stmt = (
            select(Comparison.dataset).where(Comparison.dataset != "").distinct().order_by(Comparison.dataset)
        )
        return (await self.session.scalars(stmt)).all()

    async def tags(self) -> Sequence[str]:
        stmt = select(ComparisonTag.tag).distinct().order_by(ComparisonTag.tag)
        return (await self.session.scalars(stmt)).all()

