"""Ratings and what is kept in step with them (score tallies, rating digests), the rubric, review queues and the rows exports read."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, case, delete, func, insert, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, raiseload, selectinload

from app.core.database import hold_row
from app.core.filters import filtered
from app.core.readable import unrated_turns
from app.models import (
    ChunkJudgement,
    Comparison,
    ComparisonTag,
    Output,
    Rating,
    RatingScore,
    ReviewQueue,
    ReviewQueueItem,
    RubricDimension,
    ScoreTally,
    VariantVersion,
)
from app.models.comparisons import SCORE_COLUMNS
from app.stats.rating_digest import RatingDigest, dense_ranks, digest_rating

# The statements of a rater's hot path are built once, with their parameters bound at execution: SQLAlchemy
# then skips building them and working out their cache key on every request (a tenth of a rating POST).
_RUBRIC = select(RubricDimension).order_by(RubricDimension.position, RubricDimension.id)
_FOR_RATING = (
    select(Comparison)
    .where(Comparison.id == bindparam("comparison_id"))
    .options(
        # A rater needs each answer's text and variant, not its evidence (prompts and chunks are JSON to parse).
        joinedload(Comparison.outputs)
        .load_only(Output.status, Output.text, Output.position, raiseload=True)
        .joinedload(Output.variant_version)
        .joinedload(VariantVersion.variant),
        raiseload(Comparison.tags),
    )
)
_RATING_BY = (
    select(Rating)
    .where(Rating.comparison_id == bindparam("comparison_id"), Rating.rater == bindparam("rater"))
    .options(joinedload(Rating.scores))
)


class RubricRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def ordered(self) -> Sequence[RubricDimension]:
        return (await self.session.scalars(_RUBRIC)).all()

    async def replace(self, dimensions: list[RubricDimension]) -> None:
        await self.session.execute(delete(RubricDimension))
        self.session.add_all(dimensions)
        await self.session.flush()


MAX_QUEUE_ITEMS = 5000


class QueueRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    def add(self, queue: ReviewQueue) -> None:
        self.session.add(queue)

    async def get(self, queue_id: int) -> ReviewQueue | None:
        return await self.session.get(ReviewQueue, queue_id, options=[selectinload(ReviewQueue.items)])

    async def newest_first(self) -> Sequence[ReviewQueue]:
        stmt = select(ReviewQueue).order_by(ReviewQueue.id.desc()).options(selectinload(ReviewQueue.items))
        return (await self.session.scalars(stmt)).all()

    async def delete(self, queue: ReviewQueue) -> None:
        await self.session.delete(queue)

    async def existing_comparisons(self, ids: Sequence[int]) -> set[int]:
        found = await self.session.scalars(select(Comparison.id).where(Comparison.id.in_(set(ids))))
        return set(found.all())

    async def matching_comparisons(self, dataset: str, tag: str, experiment_id: int | None = None) -> list[int]:
        """Comparisons from a dataset, with a tag and/or of an experiment, oldest first."""
        stmt = select(Comparison.id).order_by(Comparison.id).limit(MAX_QUEUE_ITEMS + 1)
        if experiment_id is not None:
            stmt = stmt.where(Comparison.experiment_id == experiment_id)
        if dataset:
            stmt = stmt.where(Comparison.dataset == dataset)
        if tag:
            stmt = stmt.where(
                Comparison.id.in_(select(ComparisonTag.comparison_id).where(ComparisonTag.tag == tag))
            )
        return list((await self.session.scalars(stmt)).all())

    async def item_counts(self, queue_ids: Sequence[int], rater: str) -> dict[int, list[tuple[int, int, bool]]]:
        """Per queue: (comparison id, ratings so far, rated by `rater`) per item, in queue order (one query)."""
        stmt = (
            select(
                ReviewQueueItem.queue_id,
                ReviewQueueItem.comparison_id,
                func.count(Rating.id),
                func.coalesce(func.sum(case((Rating.rater == rater, 1), else_=0)), 0),
            )
            .outerjoin(Rating, Rating.comparison_id == ReviewQueueItem.comparison_id)
            .where(ReviewQueueItem.queue_id.in_(queue_ids))
            .group_by(
                ReviewQueueItem.queue_id, ReviewQueueItem.id, ReviewQueueItem.comparison_id, ReviewQueueItem.position
            )
            .order_by(ReviewQueueItem.queue_id, ReviewQueueItem.position, ReviewQueueItem.id)
        )
        found: dict[int, list[tuple[int, int, bool]]] = {queue_id: [] for queue_id in queue_ids}
        for queue_id, cid, n, mine in (await self.session.execute(stmt)).all():
            found[queue_id].append((cid, int(n), bool(mine)))
        return found

    async def rater_counts(self, queue_ids: Sequence[int]) -> dict[int, list[tuple[str, int]]]:
        """Per queue: (rater, ratings of its items), most first (one query)."""
        stmt = (
            select(ReviewQueueItem.queue_id, Rating.rater, func.count(Rating.id))
            .join(ReviewQueueItem, ReviewQueueItem.comparison_id == Rating.comparison_id)
            .where(ReviewQueueItem.queue_id.in_(queue_ids))
            .group_by(ReviewQueueItem.queue_id, Rating.rater)
            .order_by(ReviewQueueItem.queue_id, func.count(Rating.id).desc(), Rating.rater)
        )
        found: dict[int, list[tuple[str, int]]] = {queue_id: [] for queue_id in queue_ids}
        for queue_id, rater, n in (await self.session.execute(stmt)).all():
            found[queue_id].append((rater, int(n)))
        return found


async def ratings_for_export(session: AsyncSession, filters: Any) -> Sequence[Rating]:
    """Every rating of the filtered comparisons, oldest first, with scores, comparison, tags, outputs and variants."""
    comparison = selectinload(Rating.comparison)
    stmt = (
        select(Rating)
        .join(Comparison, Comparison.id == Rating.comparison_id)
        .options(
            selectinload(Rating.scores),
            comparison.selectinload(Comparison.tags),
            comparison.selectinload(Comparison.outputs)
            .selectinload(Output.variant_version)
            .selectinload(VariantVersion.variant),
        )
        .order_by(Rating.id)
    )
    return (await session.scalars(filtered(stmt, filters))).all()


_TALLIES_FROM_SCORES = """
INSERT INTO score_tallies (output_id, dimension, comparison_id, variant_id, n1, n2, n3, n4, n5)
SELECT rs.output_id, rs.dimension, o.comparison_id, vv.variant_id,
       SUM(CASE WHEN rs.score = 1 THEN 1 ELSE 0 END), SUM(CASE WHEN rs.score = 2 THEN 1 ELSE 0 END),
       SUM(CASE WHEN rs.score = 3 THEN 1 ELSE 0 END), SUM(CASE WHEN rs.score = 4 THEN 1 ELSE 0 END),
       SUM(CASE WHEN rs.score = 5 THEN 1 ELSE 0 END)
FROM rating_scores rs
JOIN outputs o ON o.id = rs.output_id
JOIN variant_versions vv ON vv.id = o.variant_version_id
GROUP BY rs.output_id, rs.dimension, o.comparison_id, vv.variant_id
"""


async def lock_comparison(session: AsyncSession, comparison_id: int) -> None:
    """Hold one comparison's ratings still until the transaction ends, so a rating's old scores (which the tally
    change is worked out from) cannot change underneath it. PostgreSQL locks the row; SQLite takes its
    database write lock with a no-op write, before anything is read."""
    await hold_row(session, Comparison, comparison_id, touch=Comparison.dataset, lock="no key update")


async def adjust_tallies(
    session: AsyncSession,
    comparison_id: int,
    variant_of: Mapping[int, int],
    changes: Mapping[tuple[int, str], Sequence[int]],
) -> None:
    """Add `changes[(output, dimension)]` (+/- raters per score 1-5) to the tallies, creating rows as needed,
    in one atomic upsert (callers hold `lock_comparison`, so the old scores they took back are current)."""
    rows = [
        {
            "output_id": output_id,
            "dimension": dimension,
            "comparison_id": comparison_id,
            "variant_id": variant_of[output_id],
            **dict(zip(SCORE_COLUMNS, delta, strict=True)),
        }
        for (output_id, dimension), delta in sorted(changes.items())
        if any(delta)
    ]
    if rows:
        # One statement sent once with every row: its compiled form is cached, where a VALUES list of this
        # rating's rows would be compiled afresh for each rating.
        await session.execute(_tally_upsert(session.get_bind().dialect.name), rows)


@functools.cache
def _tally_upsert(dialect: str) -> Any:
    table = cast(Table, ScoreTally.__table__)
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return stmt.on_conflict_do_update(
        index_elements=[table.c.output_id, table.c.dimension],
        set_={c: table.c[c] + stmt.excluded[c] for c in SCORE_COLUMNS},
    )


def rebuild(
    connection: Connection, batch: int = 2000, on_progress: Callable[[int, int], None] | None = None
) -> int:
    """Recompute every tally and rating digest from the stored ratings (plain SQL on a sync connection, so an
    Alembic migration can run it); `on_progress(done, total)` after each batch of ratings. Returns how many
    ratings were digested."""
    connection.execute(text("DELETE FROM score_tallies"))
    connection.execute(text(_TALLIES_FROM_SCORES))
    variant_of: dict[int, int] = dict(
        connection.execute(
            text(
                "SELECT o.id, vv.variant_id FROM outputs o JOIN variant_versions vv ON vv.id = o.variant_version_id"
            )
        ).all()
    )
    ids = [row[0] for row in connection.execute(text("SELECT id FROM ratings ORDER BY id")).all()]
    write = text(
        "UPDATE ratings SET variant_ranks = :variant_ranks, first_shown_best = :first_shown_best,"
        " ranked_shown = :ranked_shown WHERE id = :rating_id"
    )
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        digests = _digests(connection, chunk, variant_of)
        connection.execute(
            write,
            [
                {
                    "rating_id": rating_id,
                    "variant_ranks": d.variant_ranks,
                    "first_shown_best": d.first_shown_best,
                    "ranked_shown": d.ranked_shown,
                }
                for rating_id, d in digests.items()
            ],
        )
        if on_progress is not None:
            on_progress(start + len(chunk), len(ids))
    return len(ids)


def _digests(
    connection: Connection, rating_ids: list[int], variant_of: dict[int, int]
) -> dict[int, RatingDigest]:
    rows = connection.execute(
        text("SELECT id, display_order, ranking FROM ratings WHERE id IN :ids").bindparams(
            bindparam("ids", expanding=True)
        ),
        {"ids": rating_ids},
    ).all()
    means = connection.execute(
        text(
            "SELECT rating_id, output_id, AVG(score * 1.0) FROM rating_scores WHERE rating_id IN :ids"
            " GROUP BY rating_id, output_id"
        ).bindparams(bindparam("ids", expanding=True)),
        {"ids": rating_ids},
    ).all()
    mean_scores: dict[int, dict[int, float]] = {}
    for rating_id, output_id, mean in means:
        mean_scores.setdefault(rating_id, {})[output_id] = float(mean)
    digests = {}
    for rating_id, order, ranking in rows:
        ranks = {int(o): float(r) for o, r in _json(ranking, {}).items()}
        if not ranks:  # stored before rankings existed: rank by mean score
            ranks = {
                o: float(r)
                for o, r in dense_ranks(mean_scores.get(rating_id, {}), higher_is_better=True).items()
            }
        digests[rating_id] = digest_rating([int(o) for o in _json(order, [])], ranks, variant_of)
    return digests


def _json(value: Any, empty: Any) -> Any:
    """JSON columns come back parsed on PostgreSQL and as text on SQLite."""
    if isinstance(value, str):
        value = json.loads(value)
    return value if value else empty


class RatingRepository:
    """Ratings and the comparison a rater is rating."""

    def __init__(self, session: AsyncSession):
        self.session = session

    def add(self, rating: Rating) -> None:
        self.session.add(rating)

    async def get_for_rating(self, comparison_id: int) -> Comparison | None:
        """The comparison with its outputs and their variants, but not everyone's ratings nor its tags (a
        rater's hot path: one statement)."""
        found = await self.session.scalars(_FOR_RATING, {"comparison_id": comparison_id})
        return found.unique().one_or_none()

    async def earlier_questions(self, session_id: int, turn: int) -> list[str]:
        stmt = (
            select(Comparison.query)
            .where(Comparison.session_id == session_id, Comparison.turn < turn)
            .order_by(Comparison.turn)
        )
        return list((await self.session.scalars(stmt)).all())

    async def unrated_turns(self, session_id: int, rater: str) -> int:
        return int(await self.session.scalar(unrated_turns(session_id, rater)) or 0)

    async def rating_by(self, comparison_id: int, rater: str) -> Rating | None:
        found = await self.session.scalars(_RATING_BY, {"comparison_id": comparison_id, "rater": rater})
        return found.unique().one_or_none()

    async def add_scores(self, rating_id: int, scores: Mapping[int, Mapping[str, int]]) -> None:
        """A new rating's scores, {output id: {dimension: score}}, in one statement (the unit of work would
        insert them one at a time, to learn each new row's id)."""
        rows = [
            {"rating_id": rating_id, "output_id": output_id, "dimension": dimension, "score": score}
            for output_id, dims in scores.items()
            for dimension, score in dims.items()
        ]
        await self.session.execute(insert(RatingScore), rows)


class JudgementRepository:
    """Raters' relevance marks on retrieved chunks."""

    def __init__(self, session: AsyncSession):
        self.session = session

    async def output_with_comparison(self, output_id: int) -> tuple[Output, Comparison] | None:
        output = await self.session.get(Output, output_id)
        comparison = await self.session.get(Comparison, output.comparison_id) if output else None
        return (output, comparison) if output is not None and comparison is not None else None

    async def has_rated(self, comparison_id: int, rater: str) -> bool:
        stmt = select(Rating.id).where(Rating.comparison_id == comparison_id, Rating.rater == rater)
        return await self.session.scalar(stmt) is not None

    async def mark_by(self, output_id: int, rank: int, rater: str) -> ChunkJudgement | None:
        stmt = select(ChunkJudgement).where(
            ChunkJudgement.output_id == output_id, ChunkJudgement.rank == rank, ChunkJudgement.rater == rater
        )
        return await self.session.scalar(stmt)

    async def marks_of(self, output_ids: list[int], rater: str) -> Sequence[ChunkJudgement]:
        stmt = select(ChunkJudgement).where(
            ChunkJudgement.output_id.in_(output_ids), ChunkJudgement.rater == rater
        )
        return (await self.session.scalars(stmt)).all()
