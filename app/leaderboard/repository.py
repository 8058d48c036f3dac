"""The leaderboard's reads: score tallies and rating digests grouped through covering indexes, names, the cache fingerprint, relevance marks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.filters import filtered
from app.models import (
    ChunkJudgement,
    Comparison,
    Output,
    Rating,
    ScoreTally,
    Variant,
    VariantVersion,
)
from app.models.comparisons import SCORE_COLUMNS
from app.pipelines.base import RETRIEVAL_STRATEGIES

_NO_FILTER = ("since", "until", "dataset", "tag", "blind_reader")


def _unfiltered(filters: Any) -> bool:
    return all(getattr(filters, name) is None for name in _NO_FILTER)


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


RANKS_SEPARATOR = "|"  # never inside a stored variant ranks digest (variant ids, ranks, ':' and ',')


async def comparison_groups(session: AsyncSession, filters: Any) -> Sequence[Any]:
    """(the rankings of one comparison joined by RANKS_SEPARATOR in any order, how many comparisons had them):
    what a bootstrap over comparisons draws from, grouped in the database (a few rows per pattern, not one
    per rating)."""
    per_comparison = select(
        Rating.comparison_id, func.aggregate_strings(Rating.variant_ranks, RANKS_SEPARATOR).label("ranks")
    ).where(Rating.variant_ranks != "")
    if not _unfiltered(filters):
        per_comparison = filtered(per_comparison.join(Comparison, Comparison.id == Rating.comparison_id), filters)
    grouped = per_comparison.group_by(Rating.comparison_id).subquery()
    return (await session.execute(select(grouped.c.ranks, func.count()).group_by(grouped.c.ranks))).all()


async def variant_names(session: AsyncSession, ids: set[int]) -> dict[int, tuple[str, str]]:
    stmt = select(Variant.id, Variant.name, Variant.strategy).where(Variant.id.in_(ids))
    return {i: (name, strategy) for i, name, strategy in (await session.execute(stmt)).all()}


async def ratings_fingerprint(session: AsyncSession) -> tuple[Any, ...]:
    """Changes whenever a rating is added, edited or deleted (the leaderboard cache key)."""
    row = (
        await session.execute(select(func.count(Rating.id), func.max(Rating.id), func.max(Rating.updated_at)))
    ).one()
    return tuple(str(x) for x in row)


async def chunk_marks(session: AsyncSession, filters: Any) -> Sequence[Any]:
    """(variant id, name, top_k, output id, rank, relevant) for every relevance mark on a retrieval variant's
    output, from the comparisons `filters` let through."""
    stmt = (
        select(
            Variant.id,
            Variant.name,
            VariantVersion.top_k,
            ChunkJudgement.output_id,
            ChunkJudgement.rank,
            ChunkJudgement.relevant,
        )
        .join(VariantVersion, VariantVersion.variant_id == Variant.id)
        .join(Output, Output.variant_version_id == VariantVersion.id)
        .join(ChunkJudgement, ChunkJudgement.output_id == Output.id)
        .where(Variant.strategy.in_(RETRIEVAL_STRATEGIES))
    )
    if not _unfiltered(filters):
        stmt = filtered(stmt.join(Comparison, Comparison.id == Output.comparison_id), filters)
    return (await session.execute(stmt)).all()


async def marks_fingerprint(session: AsyncSession) -> tuple[Any, ...]:
    """Changes whenever a relevance mark is added or changed (part of the leaderboard cache key)."""
    row = (await session.execute(select(func.count(ChunkJudgement.id), func.max(ChunkJudgement.id)))).one()
    return tuple(str(x) for x in row)
