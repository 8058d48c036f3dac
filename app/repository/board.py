"""The leaderboard's aggregates: score tallies and rating digests, kept in step on write, grouped on read.

Reading 100k ratings row by row takes seconds; grouping the tallies and digests through covering indexes takes
tens of milliseconds. `rebuild` recomputes both from the ratings themselves (the migration that introduced
them, the bench, and anyone who edited ratings in the database by hand).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import Comparison, Rating, ScoreTally
from app.repository.comparisons import filtered
from app.stats.rating_digest import RatingDigest, dense_ranks, digest_rating

SCORE_COLUMNS = ("n1", "n2", "n3", "n4", "n5")
_NO_FILTER = ("since", "until", "dataset", "tag", "rated_by")
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


def _unfiltered(filters: Any) -> bool:
    return all(getattr(filters, name) is None for name in _NO_FILTER)


async def lock_comparison(session: AsyncSession, comparison_id: int) -> None:
    """Hold one comparison's ratings still until the transaction ends, so a rating's old scores (which the tally
    change is worked out from) cannot change underneath it. PostgreSQL locks the row; SQLite takes its
    database write lock with a no-op write, before anything is read."""
    if session.get_bind().dialect.name == "postgresql":
        stmt = select(Comparison.id).where(Comparison.id == comparison_id).with_for_update(key_share=True)
        await session.execute(stmt)
    else:
        await session.execute(
            update(Comparison).where(Comparison.id == comparison_id).values(dataset=Comparison.dataset)
        )


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
    if not rows:
        return
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(ScoreTally).values(rows)
    table = ScoreTally.__table__.c
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.output_id, table.dimension],
        set_={c: table[c] + stmt.excluded[c] for c in SCORE_COLUMNS},
    )
    await session.execute(stmt)


async def tally_groups(session: AsyncSession, filters: Any) -> Sequence[Any]:
    """(variant id, dimension, n1..n5, how many outputs had exactly those tallies): a few hundred rows that
    hold every mean, interval and agreement figure."""
    t = ScoreTally.__table__.c
    columns = [t.variant_id, t.dimension, *(t[c] for c in SCORE_COLUMNS)]
    stmt = select(*columns, func.count()).group_by(*columns)
    if not _unfiltered(filters):
        stmt = filtered(stmt.join(Comparison, Comparison.id == t.comparison_id), filters)
    return (await session.execute(stmt)).all()


async def digest_groups(session: AsyncSession, filters: Any) -> Sequence[Any]:
    """(variant ranks, first shown best, ranked shown, rater, how many ratings): ratings by pattern."""
    columns = [Rating.variant_ranks, Rating.first_shown_best, Rating.ranked_shown, Rating.rater]
    stmt = select(*columns, func.count()).group_by(*columns)
    if not _unfiltered(filters):
        stmt = filtered(stmt.join(Comparison, Comparison.id == Rating.comparison_id), filters)
    return (await session.execute(stmt)).all()


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
