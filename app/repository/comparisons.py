"""Comparisons, their outputs and ratings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import (
    Comparison,
    ComparisonTag,
    ExampleSet,
    Output,
    Rating,
    Variant,
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

    async def get_for_rating(self, comparison_id: int) -> Comparison | None:
        """The comparison with its outputs and their variants, but not everyone's ratings (a rater's hot path)."""
        loads = (
            selectinload(Comparison.outputs)
            .selectinload(Output.variant_version)
            .selectinload(VariantVersion.variant)
        )
        return await self.session.scalar(
            select(Comparison).where(Comparison.id == comparison_id).options(loads)
        )

    async def list(self, *, limit: int, offset: int = 0) -> Sequence[Comparison]:
        stmt = (
            select(Comparison)
            .order_by(Comparison.id.desc())
            .limit(limit)
            .offset(offset)
            .options(*_COMPARISON_LOADS)
        )
        return (await self.session.scalars(stmt)).all()

    async def count(self) -> int:
        return int(await self.session.scalar(select(func.count(Comparison.id))) or 0)

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

    async def finish_output(self, output_id: int, values: dict[str, Any]) -> None:
        await self.session.execute(update(Output).where(Output.id == output_id).values(**values))

    async def fail_pending_outputs(self, error: str, finished_at: datetime) -> int:
        """Mark outputs left pending by a stopped process as failed; returns how many."""
        result = await self.session.execute(
            update(Output)
            .where(Output.status == "pending")
            .values(status="error", error=error, finished_at=finished_at)
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def datasets(self) -> Sequence[str]:
        stmt = (
            select(Comparison.dataset).where(Comparison.dataset != "").distinct().order_by(Comparison.dataset)
        )
        return (await self.session.scalars(stmt)).all()

    async def tags(self) -> Sequence[str]:
        stmt = select(ComparisonTag.tag).distinct().order_by(ComparisonTag.tag)
        return (await self.session.scalars(stmt)).all()

    async def rating_by(self, comparison_id: int, rater: str) -> Rating | None:
        stmt = (
            select(Rating)
            .where(Rating.comparison_id == comparison_id, Rating.rater == rater)
            .options(selectinload(Rating.scores))
        )
        return await self.session.scalar(stmt)


def filtered(stmt: Any, filters: Any) -> Any:
    """Apply leaderboard filters (since, until, dataset, tag, rated by) to a statement joined to Comparison."""
    if filters.since is not None:
        stmt = stmt.where(Comparison.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Comparison.created_at < filters.until)
    if filters.dataset is not None:
        stmt = stmt.where(Comparison.dataset == filters.dataset)
    if filters.tag is not None:
        tagged = select(ComparisonTag.comparison_id).where(ComparisonTag.tag == filters.tag)
        stmt = stmt.where(Comparison.id.in_(tagged))
    if getattr(filters, "rated_by", None) is not None:
        rated = select(Rating.comparison_id).where(Rating.rater == filters.rated_by)
        stmt = stmt.where(Comparison.id.in_(rated))
    return stmt


async def variant_names(session: AsyncSession, ids: set[int]) -> dict[int, tuple[str, str]]:
    stmt = select(Variant.id, Variant.name, Variant.strategy).where(Variant.id.in_(ids))
    return {i: (name, strategy) for i, name, strategy in (await session.execute(stmt)).all()}


async def ratings_fingerprint(session: AsyncSession) -> tuple[Any, ...]:
    """Changes whenever a rating is added, edited or deleted (the leaderboard cache key)."""
    row = (
        await session.execute(select(func.count(Rating.id), func.max(Rating.id), func.max(Rating.updated_at)))
    ).one()
    return tuple(str(x) for x in row)
