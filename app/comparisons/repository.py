"""Comparisons and their outputs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from app.core.readable import unrated_turns
from app.core.repository import update_by_id
from app.models import (
    Comparison,
    ComparisonSession,
    ComparisonTag,
    Output,
    Rating,
    VariantVersion,
)

# The outputs come with their variant and endpoint in one statement (many-to-one joins).
_COMPARISON_LOADS = (
    selectinload(Comparison.outputs)
    .joinedload(Output.variant_version, innerjoin=True)
    .options(
        joinedload(VariantVersion.variant, innerjoin=True), joinedload(VariantVersion.endpoint, innerjoin=True)
    ),
    selectinload(Comparison.ratings).selectinload(Rating.scores),
    selectinload(Comparison.tags),
)


# Built once: a statement with its rows written into it (`values(rows)`) is compiled anew for every call.
# Executed with a list of rows, SQLAlchemy sends one INSERT for them all, its ids in the order of the rows.
_OUTPUTS = cast(Table, Output.__table__)
_ADD_OUTPUTS = insert(_OUTPUTS).returning(_OUTPUTS.c.id, sort_by_parameter_order=True)
# A running answer's text so far; never over a stored answer (a checkpoint can trail the final write).
_SAVE_PARTIAL = (
    update(_OUTPUTS)
    .where(_OUTPUTS.c.id == bindparam("output_id"), _OUTPUTS.c.status == "pending")
    .values(text=bindparam("partial"))
)


class ComparisonRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    def add(self, obj: Comparison | Output | Rating) -> None:
        self.session.add(obj)

    async def get(self, comparison_id: int) -> Comparison | None:
        stmt = select(Comparison).where(Comparison.id == comparison_id).options(*_COMPARISON_LOADS)
        return await self.session.scalar(stmt)

    async def add_pending_outputs(
        self, comparison_id: int, version_ids: Sequence[int], lease_until: datetime
    ) -> list[int]:
        """One pending output per variant version, positioned in the order given, in one statement (the unit
        of work would insert them one at a time to learn each id); their ids in that order."""
        rows = [
            {"comparison_id": comparison_id, "variant_version_id": v, "position": p, "lease_until": lease_until}
            for p, v in enumerate(version_ids)
        ]
        return list((await self.session.execute(_ADD_OUTPUTS, rows)).scalars())

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

    async def finish_outputs(self, finished: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        """Store finished outputs' values, (output id, values) each."""
        await update_by_id(self.session, cast(Table, Output.__table__), finished)

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

    async def save_partial_texts(self, partial: Sequence[tuple[int, str]]) -> None:
        """Checkpoint running answers' text so far, (output id, text) each, in one statement."""
        rows = [{"output_id": output_id, "partial": text} for output_id, text in partial]
        await self.session.execute(_SAVE_PARTIAL, rows)

    async def request_stop(self, comparison_id: int, now: datetime) -> Sequence[int]:
        """Mark a standalone comparison's running outputs to be stopped; their ids."""
        result = await self.session.execute(
            update(Output)
            .where(
                Output.comparison_id == comparison_id,
                Output.status == "pending",
                Output.comparison_id.in_(select(Comparison.id).where(Comparison.experiment_id.is_(None))),
            )
            .values(stop_requested_at=now)
            .returning(Output.id)
        )
        return result.scalars().all()

    async def stop_requested(self, output_ids: Sequence[int]) -> set[int]:
        """Which of these running outputs someone asked to stop (from any process)."""
        stmt = select(Output.id).where(
            Output.id.in_(list(output_ids)), Output.status == "pending", Output.stop_requested_at.is_not(None)
        )
        return set((await self.session.scalars(stmt)).all())

    async def outputs_of(self, comparison_id: int, output_ids: Sequence[int]) -> Sequence[Output]:
        """These outputs of one comparison as stored now (a reader following another process's answers)."""
        stmt = select(Output).where(Output.comparison_id == comparison_id, Output.id.in_(list(output_ids)))
        return (await self.session.scalars(stmt)).all()

    async def pending_count(self, comparison_id: int) -> int:
        stmt = select(func.count(Output.id)).where(Output.comparison_id == comparison_id, Output.status == "pending")
        return int(await self.session.scalar(stmt) or 0)

    async def lock_session(self, session_id: int) -> ComparisonSession | None:
        """The session, held until the transaction ends (PostgreSQL; SQLite has one writer at a time), so two
        turns posted at once are added one after the other."""
        return await self.session.scalar(
            select(ComparisonSession).where(ComparisonSession.id == session_id).with_for_update()
        )

    async def earlier_turns(self, session_id: int) -> Sequence[tuple[str, Sequence[tuple[int, str, str]]]]:
        """A session's turns in order: (question, [(variant version id, status, text)]) each."""
        rows = await self.session.execute(
            select(Comparison.id, Comparison.query, Output.variant_version_id, Output.status, Output.text)
            .join(Output, Output.comparison_id == Comparison.id)
            .where(Comparison.session_id == session_id)
            .order_by(Comparison.turn, Output.position)
        )
        turns: dict[int, tuple[str, list[tuple[int, str, str]]]] = {}
        for comparison_id, query, version_id, status, text in rows:
            turns.setdefault(comparison_id, (query, []))[1].append((version_id, status, text))
        return list(turns.values())

    async def get_session(self, session_id: int) -> ComparisonSession | None:
        """The session with every turn loaded as a comparison is."""
        stmt = (
            select(ComparisonSession)
            .where(ComparisonSession.id == session_id)
            .options(selectinload(ComparisonSession.turns).options(*_COMPARISON_LOADS))
        )
        return await self.session.scalar(stmt)

    async def list_sessions(self, *, limit: int, offset: int = 0) -> Sequence[ComparisonSession]:
        stmt = (
            select(ComparisonSession)
            .order_by(ComparisonSession.id.desc())
            .limit(limit)
            .offset(offset)
            .options(selectinload(ComparisonSession.turns).options(*_COMPARISON_LOADS))
        )
        return (await self.session.scalars(stmt)).all()

    async def unrated_turns(self, session_id: int, rater: str) -> int:
        return int(await self.session.scalar(unrated_turns(session_id, rater)) or 0)

    async def datasets(self) -> Sequence[str]:
        stmt = (
            select(Comparison.dataset).where(Comparison.dataset != "").distinct().order_by(Comparison.dataset)
        )
        return (await self.session.scalars(stmt)).all()

    async def tags(self) -> Sequence[str]:
        stmt = select(ComparisonTag.tag).distinct().order_by(ComparisonTag.tag)
        return (await self.session.scalars(stmt)).all()

