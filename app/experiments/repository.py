"""Experiments, their comparisons and outputs as a batch, the response cache, metrics and judge verdicts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, and_, case, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.repository import update_by_id
from app.core.types import as_utc
from app.models import (
    Comparison,
    ComparisonTag,
    DatasetItem,
    DatasetVersion,
    Experiment,
    JudgeVerdict,
    Output,
    OutputMetric,
    VariantVersion,
)

# What a cache hit copies from the output it reuses.
CACHED_COLUMNS = (
    "text",
    "truncated",
    "model",
    "latency_ms",
    "ttft_ms",
    "wait_ms",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "contexts",
    "prompt",
)


@dataclass(frozen=True)
class PendingOutput:
    output_id: int
    query: str
    version_id: int
    endpoint_id: int
    cache_key: str | None


@dataclass(frozen=True)
class Counts:
    total: int
    done: int
    errors: int
    cached: int
    pending: int
    recent: int  # model calls finished in the last minute
    scored: int
    judged: int
    # When the latest output (a model answer or a cache copy) was finished; None before any.
    last_answer_at: datetime | None = None


@dataclass(frozen=True)
class ScoringRow:
    output_id: int
    status: str
    text: str
    error: str | None
    contexts: list[Any]
    reference: str
    expected_source: str
    tags: list[str]


class ExperimentRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    def add(self, experiment: Experiment) -> None:
        self.session.add(experiment)

    async def get(self, experiment_id: int) -> Experiment | None:
        stmt = (
            select(Experiment)
            .where(Experiment.id == experiment_id)
            .options(selectinload(Experiment.dataset_version).selectinload(DatasetVersion.dataset))
        )
        return await self.session.scalar(stmt)

    async def recent(self, *, limit: int = 100, offset: int = 0) -> Sequence[Experiment]:
        stmt = (
            select(Experiment)
            .order_by(Experiment.id.desc())
            .limit(limit)
            .offset(offset)
            .options(selectinload(Experiment.dataset_version).selectinload(DatasetVersion.dataset))
        )
        return (await self.session.scalars(stmt)).all()

    async def unfinished(self) -> Sequence[int]:
        """Experiments a stopped process left queued or running: they resume on start."""
        stmt = select(Experiment.id).where(Experiment.status.in_(("queued", "running", "scoring", "judging")))
        return (await self.session.scalars(stmt.order_by(Experiment.id))).all()

    async def versions(self, version_ids: Sequence[int]) -> dict[int, VariantVersion]:
        stmt = (
            select(VariantVersion)
            .where(VariantVersion.id.in_(set(version_ids)))
            .options(selectinload(VariantVersion.variant), selectinload(VariantVersion.endpoint))
        )
        return {v.id: v for v in (await self.session.scalars(stmt)).all()}

    async def insert_outputs(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(Output), list(rows))

    async def insert_comparisons(self, rows: Sequence[dict[str, Any]]) -> list[int]:
        """Insert comparisons in one multi-row statement; their ids, in the order given."""
        if not rows:
            return []
        result = await self.session.execute(
            insert(Comparison).returning(Comparison.id, sort_by_parameter_order=True), list(rows)
        )
        return [int(i) for i in result.scalars().all()]

    async def insert_tags(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(insert(ComparisonTag), list(rows))

    async def comparison_ids(self, experiment_id: int) -> dict[tuple[int, int], int]:
        """(item id, sample) -> comparison id."""
        stmt = select(Comparison.dataset_item_id, Comparison.sample, Comparison.id).where(
            Comparison.experiment_id == experiment_id
        )
        return {(int(item or 0), sample): cid for item, sample, cid in (await self.session.execute(stmt)).all()}

    async def set_status(self, experiment_id: int, status: str, **values: Any) -> None:
        await self.session.execute(
            update(Experiment).where(Experiment.id == experiment_id).values(status=status, **values)
        )

    async def status(self, experiment_id: int) -> str | None:
        return await self.session.scalar(select(Experiment.status).where(Experiment.id == experiment_id))

    async def pending(self, experiment_id: int) -> list[PendingOutput]:
        stmt = (
            select(Output.id, Comparison.query, Output.variant_version_id, VariantVersion.endpoint_id, Output.cache_key)
            .join(Comparison, Output.comparison_id == Comparison.id)
            .join(VariantVersion, Output.variant_version_id == VariantVersion.id)
            .where(Comparison.experiment_id == experiment_id, Output.status == "pending")
            .order_by(Comparison.id, Output.position)
        )
        return [PendingOutput(*row) for row in (await self.session.execute(stmt)).all()]

    async def pending_count(self, experiment_id: int) -> int:
        stmt = (
            select(func.count(Output.id))
            .join(Comparison, Output.comparison_id == Comparison.id)
            .where(Comparison.experiment_id == experiment_id, Output.status == "pending")
        )
        return int(await self.session.scalar(stmt) or 0)

    async def cached(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """For each key, the newest answer actually produced by a model (not itself a cache hit)."""
        found: dict[str, dict[str, Any]] = {}
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 500):
            stmt = (
                select(Output.id, Output.cache_key, *(getattr(Output, c) for c in CACHED_COLUMNS))
                .where(
                    Output.cache_key.in_(unique[start : start + 500]),
                    Output.status == "done",
                    Output.cached_from_id.is_(None),
                )
                .order_by(Output.id.desc())
            )
            for row in (await self.session.execute(stmt)).all():
                values = row._asdict()
                found.setdefault(values.pop("cache_key"), values)
        return found

    async def finish_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """Write finished outputs (each dict has its `id`); only pending rows change, so a result that arrives
        twice (a resumed run racing a late one) is written once."""
        table = cast(Table, Output.__table__)
        finished = [(row["id"], {k: v for k, v in row.items() if k != "id"}) for row in rows]
        await update_by_id(self.session, table, finished, table.c.status == "pending")

    async def counts(self, experiment_id: int, now: datetime) -> Counts:
        return (await self.counts_of([experiment_id], now))[experiment_id]

    async def counts_of(self, experiment_ids: Sequence[int], now: datetime) -> dict[int, Counts]:
        """Each experiment's output counts, in three grouped queries however many experiments (a list page)."""
        recent_from = now - timedelta(seconds=60)
        experiment = Comparison.experiment_id
        stmt = (
            select(
                experiment,
                func.count(Output.id),
                func.count(case((Output.status == "done", 1))),
                func.count(case((Output.status == "error", 1))),
                func.count(Output.cached_from_id),
                func.count(case((Output.status == "pending", 1))),
                func.count(case((and_(Output.finished_at >= recent_from, Output.cached_from_id.is_(None)), 1))),
                func.max(Output.finished_at),
            )
            .join(Comparison, Output.comparison_id == Comparison.id)
            .where(experiment.in_(experiment_ids))
            .group_by(experiment)
        )
        outputs = {row[0]: row[1:] for row in (await self.session.execute(stmt)).all()}
        scored = dict(
            (
                await self.session.execute(
                    select(experiment, func.count(func.distinct(OutputMetric.output_id)))
                    .join(Output, Output.id == OutputMetric.output_id)
                    .join(Comparison, Output.comparison_id == Comparison.id)
                    .where(experiment.in_(experiment_ids))
                    .group_by(experiment)
                )
            ).all()
        )
        judged = dict(
            (
                await self.session.execute(
                    select(JudgeVerdict.experiment_id, func.count(JudgeVerdict.id))
                    .where(JudgeVerdict.experiment_id.in_(experiment_ids))
                    .group_by(JudgeVerdict.experiment_id)
                )
            ).all()
        )
        found = {}
        for experiment_id in experiment_ids:
            total, done, errors, cached, pending, recent, last = outputs.get(experiment_id, (0, 0, 0, 0, 0, 0, None))
            found[experiment_id] = Counts(
                total, done, errors, cached, pending, recent, int(scored.get(experiment_id) or 0),
                int(judged.get(experiment_id) or 0), None if last is None else as_utc(last),
            )
        return found

    async def unscored(self, experiment_id: int, limit: int) -> list[ScoringRow]:
        """Finished outputs with no metrics yet, with what scoring them needs."""
        scored = select(OutputMetric.output_id)
        stmt = (
            select(
                Output.id,
                Output.status,
                Output.text,
                Output.error,
                Output.contexts,
                DatasetItem.reference,
                DatasetItem.expected_source,
                DatasetItem.tags,
            )
            .join(Comparison, Output.comparison_id == Comparison.id)
            .join(DatasetItem, Comparison.dataset_item_id == DatasetItem.id)
            .where(
                Comparison.experiment_id == experiment_id,
                Output.status != "pending",
                Output.id.not_in(scored),
            )
            .order_by(Output.id)
            .limit(limit)
        )
        return [ScoringRow(*row) for row in (await self.session.execute(stmt)).all()]

    async def add_metrics(self, rows: Sequence[dict[str, Any]]) -> None:
        """Metric rows; a row another process scored first is kept, not an error."""
        if rows:
            await self.session.execute(_insert_new(self.session, OutputMetric), list(rows))


@dataclass(frozen=True)
class JudgePair:
    comparison_id: int
    query: str
    reference: str
    a_id: int
    a_text: str
    b_id: int
    b_text: str


async def judge_pairs(session: AsyncSession, experiment_id: int) -> list[JudgePair]:
    """Every pair of answered outputs in each of the experiment's comparisons (in shown order) with no
    verdict yet."""
    stmt = (
        select(Comparison.id, Comparison.query, DatasetItem.reference, Output.id, Output.text, Output.position)
        .join(Output, Output.comparison_id == Comparison.id)
        .join(DatasetItem, Comparison.dataset_item_id == DatasetItem.id)
        .where(Comparison.experiment_id == experiment_id, Output.status == "done")
        .order_by(Comparison.id, Output.position)
    )
    judged = {
        (c, a, b)
        for c, a, b in (
            await session.execute(
                select(JudgeVerdict.comparison_id, JudgeVerdict.output_a_id, JudgeVerdict.output_b_id).where(
                    JudgeVerdict.experiment_id == experiment_id
                )
            )
        ).all()
    }
    by_comparison: dict[int, list[tuple[str, str, int, str]]] = {}
    for cid, query, reference, oid, text, _position in (await session.execute(stmt)).all():
        by_comparison.setdefault(cid, []).append((query, reference, oid, text))
    pairs = []
    for cid, outputs in by_comparison.items():
        for i, (query, reference, a_id, a_text) in enumerate(outputs):
            for _q, _r, b_id, b_text in outputs[i + 1 :]:
                if (cid, a_id, b_id) not in judged:
                    pairs.append(JudgePair(cid, query, reference, a_id, a_text, b_id, b_text))
    return pairs


async def add_verdicts(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Judge verdicts; a pair another process judged first keeps its verdict."""
    if rows:
        await session.execute(_insert_new(session, JudgeVerdict), list(rows))


def _insert_new(session: AsyncSession, model: type[Any]) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING on either database: two processes resuming one experiment may score
    or judge the same output; the first answer stands and the run goes on."""
    if session.get_bind().dialect.name == "postgresql":
        return postgresql_insert(model).on_conflict_do_nothing()
    return sqlite_insert(model).on_conflict_do_nothing()
