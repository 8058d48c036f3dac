"""Training sets, their candidate rows (examples, corrections, top-rated answers) and fine-tuning jobs."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.readable import readable
from app.finetune.building import Candidate, Row
from app.models import (
    Comparison,
    Example,
    FineTuneJob,
    KnowledgeBase,
    Output,
    Rating,
    RatingScore,
    TrainingExample,
    TrainingSet,
)


class TrainingSetRepository:
    """Training sets and their rows; rows are read through `readable_rows`, scoped to `reader`."""

    def __init__(self, session: AsyncSession, reader: Principal):
        self.session = session
        self.reader = reader

    def readable_rows(self, training_set_id: int) -> Select[TrainingExample]:
        """The rows of one training set that the reader may read."""
        return select(TrainingExample).where(
            TrainingExample.training_set_id == training_set_id, readable(TrainingExample.comparison_id, self.reader)
        )

    async def examples(self, example_set_id: int) -> list[Candidate]:
        rows = await self.session.execute(
            select(Example.id, Example.input, Example.output)
            .where(Example.example_set_id == example_set_id)
            .order_by(Example.position, Example.id)
        )
        return [Candidate(prompt, completion, "example", example_id) for example_id, prompt, completion in rows]

    async def _rated(self) -> tuple[dict[int, list[Any]], dict[int, tuple[int, str]]]:
        """Ratings by comparison (id, ranking, correction), and finished outputs' (comparison, text)."""
        ratings: dict[int, list[Any]] = defaultdict(list)
        for rating_id, comparison_id, ranking, corrected in await self.session.execute(
            select(Rating.id, Rating.comparison_id, Rating.ranking, Rating.corrected_answer).order_by(Rating.id)
        ):
            ratings[comparison_id].append((rating_id, ranking or {}, corrected or ""))
        outputs: dict[int, tuple[int, str]] = {}
        if ratings:
            for output_id, comparison_id, text in await self.session.execute(
                select(Output.id, Output.comparison_id, Output.text).where(
                    Output.comparison_id.in_(list(ratings)), Output.status == "done"
                )
            ):
                outputs[output_id] = (comparison_id, text)
        return ratings, outputs

    async def _queries(self, comparison_ids: Sequence[int]) -> dict[int, str]:
        if not comparison_ids:
            return {}
        rows = await self.session.execute(
            select(Comparison.id, Comparison.query).where(Comparison.id.in_(list(comparison_ids)))
        )
        return {int(i): str(q) for i, q in rows}

    async def corrections(self) -> list[Candidate]:
        """Every corrected answer a rater wrote; the answer it replaced (the one that rater ranked best) is
        kept as the rejected side for DPO."""
        ratings, outputs = await self._rated()
        queries = await self._queries([c for c, rs in ratings.items() if any(r[2].strip() for r in rs)])
        found: list[Candidate] = []
        for comparison_id, rows in ratings.items():
            for rating_id, ranking, corrected in rows:
                if not corrected.strip() or comparison_id not in queries:
                    continue
                best = _ranked(ranking, outputs, best=True)
                found.append(
                    Candidate(
                        queries[comparison_id], corrected.strip(), "correction", rating_id, comparison_id,
                        outputs[best][1] if best is not None else None,
                    )
                )
        return found

    async def top_rated(self, min_score: float) -> list[Candidate]:
        """Per rated comparison, the output with the best mean rank, if its mean score (over raters and rubric
        dimensions) reaches min_score; the worst-ranked output is the rejected side."""
        ratings, outputs = await self._rated()
        means: dict[int, float] = {
            int(output_id): float(mean)
            for output_id, mean in await self.session.execute(
                select(RatingScore.output_id, func.avg(RatingScore.score)).group_by(RatingScore.output_id)
            )
        }
        queries = await self._queries(list(ratings))
        found: list[Candidate] = []
        for comparison_id, rows in ratings.items():
            ranks: dict[int, list[float]] = defaultdict(list)
            for _rating_id, ranking, _corrected in rows:
                for output_id, rank in ranking.items():
                    if int(output_id) in outputs:
                        ranks[int(output_id)].append(float(rank))
            if not ranks:
                continue
            order = sorted(ranks, key=lambda o: (sum(ranks[o]) / len(ranks[o]), o))
            best, worst = order[0], order[-1]
            score = means.get(best)
            if score is None or float(score) < min_score:
                continue
            found.append(
                Candidate(
                    queries[comparison_id], outputs[best][1].strip(), "top_rated", best, comparison_id,
                    outputs[worst][1] if worst != best else None,
                )
            )
        return found

    async def add(self, training_set: TrainingSet, rows: Sequence[Row]) -> None:
        self.session.add(training_set)
        await self.session.flush()
        if rows:
            await self.session.execute(
                insert(TrainingExample),
                [
                    {
                        "training_set_id": training_set.id,
                        "position": r.position,
                        "split": r.split,
                        "prompt": r.prompt,
                        "completion": r.completion,
                        "rejected": r.rejected,
                        "source_kind": r.source_kind,
                        "source_id": r.source_id,
                        "comparison_id": r.comparison_id,
                    }
                    for r in rows
                ],
            )

    async def collection_of(self, knowledge_base_id: int) -> str | None:
        """The Chroma collection of an active knowledge base."""
        return await self.session.scalar(
            select(KnowledgeBase.collection_name).where(
                KnowledgeBase.id == knowledge_base_id, KnowledgeBase.archived_at.is_(None)
            )
        )

    async def get(self, training_set_id: int) -> TrainingSet | None:
        return await self.session.get(TrainingSet, training_set_id)

    async def name_of(self, training_set_id: int) -> str | None:
        return await self.session.scalar(select(TrainingSet.name).where(TrainingSet.id == training_set_id))

    async def by_name(self, name: str) -> TrainingSet | None:
        return await self.session.scalar(select(TrainingSet).where(TrainingSet.name == name))

    async def recent(self, limit: int, offset: int = 0) -> Sequence[TrainingSet]:
        return (
            await self.session.scalars(
                select(TrainingSet).order_by(TrainingSet.id.desc()).limit(limit).offset(offset)
            )
        ).all()

    async def rows(self, training_set_id: int, *, split: str | None = None, limit: int | None = None) -> list[TrainingExample]:
        stmt = self.readable_rows(training_set_id)
        if split is not None:
            stmt = stmt.where(TrainingExample.split == split)
        return list((await self.session.scalars(stmt.order_by(TrainingExample.position).limit(limit))).all())

    async def tallies(self, training_set_ids: Sequence[int]) -> dict[int, dict[tuple[str, str], int]]:
        """Per set: (split, source kind) -> readable rows."""
        rows = (
            select(TrainingExample)
            .where(TrainingExample.training_set_id.in_(training_set_ids), readable(TrainingExample.comparison_id, self.reader))
            .subquery()
        )
        found: dict[int, dict[tuple[str, str], int]] = defaultdict(dict)
        for set_id, split, kind, n in await self.session.execute(
            select(rows.c.training_set_id, rows.c.split, rows.c.source_kind, func.count())
            .group_by(rows.c.training_set_id, rows.c.split, rows.c.source_kind)
        ):
            found[set_id][(split, kind)] = n
        return found

    async def previews(self, training_set_ids: Sequence[int], size: int) -> dict[int, list[TrainingExample]]:
        """Per set, its first `size` readable rows (one query: numbered within each set)."""
        numbered = (
            select(
                TrainingExample.id,
                func.row_number()
                .over(partition_by=TrainingExample.training_set_id, order_by=TrainingExample.position)
                .label("n"),
            )
            .where(TrainingExample.training_set_id.in_(training_set_ids), readable(TrainingExample.comparison_id, self.reader))
            .subquery()
        )
        stmt = (
            select(TrainingExample)
            .join(numbered, numbered.c.id == TrainingExample.id)
            .where(numbered.c.n <= size)
            .order_by(TrainingExample.training_set_id, TrainingExample.position)
        )
        found: dict[int, list[TrainingExample]] = defaultdict(list)
        for row in await self.session.scalars(stmt):
            found[row.training_set_id].append(row)
        return found


def _ranked(ranking: dict[str, Any], outputs: dict[int, tuple[int, str]], *, best: bool) -> int | None:
    known = [(float(rank), int(o)) for o, rank in ranking.items() if int(o) in outputs]
    if not known:
        return None
    return (min(known) if best else max(known))[1]


class JobRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def get(self, job_id: int) -> FineTuneJob | None:
        return await self.session.get(FineTuneJob, job_id)

    async def recent_with_names(self, limit: int, offset: int = 0) -> list[tuple[FineTuneJob, str]]:
        """The newest jobs, each with its training set's name."""
        rows = await self.session.execute(
            select(FineTuneJob, TrainingSet.name)
            .join(TrainingSet, TrainingSet.id == FineTuneJob.training_set_id)
            .order_by(FineTuneJob.id.desc())
            .limit(limit)
            .offset(offset)
        )
        return [(job, name) for job, name in rows.all()]

    async def unfinished(self) -> Sequence[int]:
        return (
            await self.session.scalars(
                select(FineTuneJob.id).where(FineTuneJob.status.in_(("queued", "running"))).order_by(FineTuneJob.id)
            )
        ).all()

    async def status(self, job_id: int) -> str | None:
        return await self.session.scalar(select(FineTuneJob.status).where(FineTuneJob.id == job_id))

    async def update(self, job_id: int, **values: Any) -> None:
        await self.session.execute(update(FineTuneJob).where(FineTuneJob.id == job_id).values(**values))

    async def update_unless_finished(self, job_id: int, **values: Any) -> bool:
        """Write progress only while the job is live: a cancel in between is never overwritten."""
        result = await self.session.execute(
            update(FineTuneJob)
            .where(FineTuneJob.id == job_id, FineTuneJob.status.in_(("queued", "running")))
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    async def latest_succeeded(self, training_set_id: int | None = None) -> FineTuneJob | None:
        stmt = select(FineTuneJob).where(FineTuneJob.status == "succeeded")
        if training_set_id is not None:
            stmt = stmt.where(FineTuneJob.training_set_id == training_set_id)
        return await self.session.scalar(stmt.order_by(FineTuneJob.id.desc()).limit(1))

    async def local_models(self) -> Sequence[tuple[int, str]]:
        """(job id, model id) of every succeeded local job: what the bundled server serves."""
        rows = await self.session.execute(
            select(FineTuneJob.id, FineTuneJob.result_model).where(
                FineTuneJob.status == "succeeded", FineTuneJob.backend == "local", FineTuneJob.result_model.is_not(None)
            )
        )
        return [(i, str(m)) for i, m in rows]
