"""The leaderboard: mean scores with 95% intervals, a Bradley-Terry ranking with bootstrap intervals,
win rates, P(best), inter-rater agreement and position bias — all from stored ratings.

Vectorised with numpy (100k ratings are 1.2M scores), and cached per filter until a rating changes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.ext.asyncio import AsyncSession

from app.repository.comparisons import (
    output_variants,
    rated_outputs,
    rating_orders,
    ratings_fingerprint,
    score_counts,
    variant_names,
)
from app.services.judgements import JudgementService, RetrievalMetrics
from app.stats.agreement import alpha_from_counts
from app.stats.bradley_terry import analyse_patterns
from app.stats.intervals import MeanInterval, interval_from_moments

SCORE_SCALE = (1.0, 5.0)
SCORE_VALUES = np.arange(1.0, 6.0)


@dataclass
class VariantStanding:
    id: int
    name: str
    strategy: str
    ratings: int
    means: dict[str, MeanInterval]
    strength: float
    strength_lower: float
    strength_upper: float
    p_best: float


@dataclass
class Leaderboard:
    ratings: int
    raters: int
    standings: list[VariantStanding]
    win_rate: list[list[float | None]]
    games: list[list[int]]
    agreement: dict[str, float | None]
    first_shown_wins: float | None
    first_shown_expected: float | None
    retrieval: list[RetrievalMetrics] = field(default_factory=list)


@dataclass(frozen=True)
class Filters:
    """Which comparisons count: created in [since, until), from a dataset, carrying a tag."""

    since: datetime | None = None
    until: datetime | None = None
    dataset: str | None = None
    tag: str | None = None


class LeaderboardCache:
    """Computed boards per filter, valid while the ratings' fingerprint (count, latest change) is unchanged."""

    def __init__(self, size: int = 32):
        self.size = size
        self._boards: dict[tuple[Filters, int], tuple[tuple[Any, ...], Leaderboard]] = {}

    def get(self, key: tuple[Filters, int], fingerprint: tuple[Any, ...]) -> Leaderboard | None:
        found = self._boards.get(key)
        return found[1] if found is not None and found[0] == fingerprint else None

    def put(self, key: tuple[Filters, int], fingerprint: tuple[Any, ...], board: Leaderboard) -> None:
        if len(self._boards) >= self.size:
            self._boards.pop(next(iter(self._boards)))
        self._boards[key] = (fingerprint, board)


@dataclass(frozen=True)
class BoardData:
    """What the database aggregates for a leaderboard (see app.repository.comparisons)."""

    counts: Sequence[Sequence[Any]]  # (output id, dimension, raters who gave 1, ..., 5)
    orders: Sequence[Sequence[Any]]  # (rating id, rater, display order JSON, ranking JSON)
    output_variant: dict[int, int]
    legacy: Sequence[Sequence[Any]]  # (rating id, output id, mean score) of ratings without a ranking
    names: dict[int, tuple[str, str]]


class LeaderboardService:
    def __init__(self, session: AsyncSession, cache: LeaderboardCache | None = None):
        self.session = session
        self.cache = cache

    async def load(self, filters: Filters) -> BoardData:
        orders = await rating_orders(self.session, filters)
        output_variant = {o: v for o, v in await output_variants(self.session, filters)}
        rankless = [row[0] for row in orders if row[3] in (None, "{}", "null")]
        return BoardData(
            counts=await score_counts(self.session, filters),
            orders=orders,
            output_variant=output_variant,
            legacy=await rated_outputs(self.session, rankless) if rankless else [],
            names=await variant_names(self.session, set(output_variant.values())),
        )

    async def compute(self, filters: Filters | None = None, *, resamples: int = 200) -> Leaderboard:
        filters = filters or Filters()
        fingerprint = await ratings_fingerprint(self.session)
        retrieval = await JudgementService(self.session).metrics()
        if (
            self.cache is not None
            and (board := self.cache.get((filters, resamples), fingerprint)) is not None
        ):
            # Names are read afresh: a variant renamed since is shown under its new name.
            names = await variant_names(self.session, {s.id for s in board.standings})
            for standing in board.standings:
                standing.name, standing.strategy = names.get(standing.id, (standing.name, standing.strategy))
            board.retrieval = retrieval
            return board
        board = summarise(await self.load(filters), retrieval, resamples=resamples)
        if self.cache is not None:
            self.cache.put((filters, resamples), fingerprint, board)
        return board


def summarise(data: BoardData, retrieval: list[RetrievalMetrics], *, resamples: int = 200) -> Leaderboard:
    """The statistics from what `load` read. Pure, so the bench can time it apart from the database."""
    variant_ids = sorted(
        {data.output_variant[row[0]] for row in data.counts if row[0] in data.output_variant}
    )
    if not variant_ids:
        return Leaderboard(0, 0, [], [], [], {}, None, None, retrieval)
    column = {v: i for i, v in enumerate(variant_ids)}
    k = len(variant_ids)
    dimensions = sorted({row[1] for row in data.counts})
    given = np.array([row[2:] for row in data.counts], dtype=float)  # raters per score value, 1-5
    cell = np.fromiter(
        (
            column[data.output_variant[row[0]]] * len(dimensions) + dimensions.index(row[1])
            for row in data.counts
        ),
        dtype=np.int64,
        count=len(data.counts),
    )
    size = k * len(dimensions)
    n = np.bincount(cell, weights=given.sum(axis=1), minlength=size)
    total = np.bincount(cell, weights=given @ SCORE_VALUES, minlength=size)
    squares = np.bincount(cell, weights=given @ SCORE_VALUES**2, minlength=size)
    means: list[dict[str, MeanInterval]] = [
        {
            dim: interval_from_moments(int(n[at]), total[at], squares[at], bounds=SCORE_SCALE)
            for j, dim in enumerate(dimensions)
            if n[(at := i * len(dimensions) + j)] > 0
        }
        for i in range(k)
    ]
    rating_ids = [row[0] for row in data.orders]
    rankings = _rankings(data)
    flat = [(i, int(o), rank) for i, ranking in enumerate(rankings) for o, rank in ranking.items()]
    r = np.fromiter((x[0] for x in flat), dtype=np.int64, count=len(flat))
    variant_of = np.fromiter(
        (column.get(data.output_variant.get(x[1], -1), -1) for x in flat), dtype=np.int64, count=len(flat)
    )
    ranks = np.fromiter((x[2] for x in flat), dtype=float, count=len(flat))
    keep = variant_of >= 0
    r, variant_of, ranks = r[keep], variant_of[keep], ranks[keep]
    ratings_per_variant = np.bincount(np.unique(r * k + variant_of) % k, minlength=k)
    result = analyse_patterns(_patterns(r, variant_of, ranks, len(rating_ids), k), k, resamples=resamples)
    first_won, shown = _position_bias(data, rankings)
    standings = [
        VariantStanding(
            v,
            *data.names.get(v, (f"variant {v}", "")),
            int(ratings_per_variant[i]),
            means[i],
            float(result.strengths[i]),
            float(result.lower[i]),
            float(result.upper[i]),
            float(result.p_best[i]),
        )
        for i, v in enumerate(variant_ids)
    ]
    order = sorted(range(k), key=lambda i: -standings[i].strength)
    return Leaderboard(
        ratings=len(rating_ids),
        raters=len({row[1] for row in data.orders}),
        standings=[standings[i] for i in order],
        win_rate=[
            [None if result.games[i, j] == 0 else float(result.win_rate[i, j]) for j in order] for i in order
        ],
        games=[[int(result.games[i, j]) for j in order] for i in order],
        agreement=_agreement(data.counts, dimensions, given),
        first_shown_wins=float(np.mean(first_won)) if len(first_won) else None,
        first_shown_expected=float(np.mean(1.0 / shown)) if len(shown) else None,
        retrieval=retrieval,
    )


def _parse_all(texts: Sequence[str | None], empty: str) -> list[Any]:
    """Many small JSON documents parsed in one call (100k json.loads calls cost ~10x more)."""
    return list(json.loads("[" + ",".join(t if t and t != "null" else empty for t in texts) + "]"))


def _rankings(data: BoardData) -> list[dict[str, float]]:
    """Each rating's {output id: rank}; ratings stored before rankings existed rank by mean score."""
    rankings: list[dict[str, float]] = _parse_all([row[3] for row in data.orders], "{}")
    by_rating: dict[int, dict[int, float]] = {}
    for rating_id, output_id, mean in data.legacy:
        by_rating.setdefault(rating_id, {})[output_id] = float(mean)
    if by_rating:
        for i, row in enumerate(data.orders):
            if not rankings[i] and (scored := by_rating.get(row[0])):
                distinct = sorted(set(scored.values()), reverse=True)
                rankings[i] = {str(o): distinct.index(m) + 1 for o, m in scored.items()}
    return rankings


def _position_bias(
    data: BoardData, rankings: list[dict[str, float]]
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Per rating with 2+ outputs: was the first output shown the unique best, and how many were shown."""
    orders = _parse_all([row[2] for row in data.orders], "[]")
    first_won, shown = [], []
    for order, ranking in zip(orders, rankings, strict=True):
        seen = [ranking[key] for o in order if (key := str(o)) in ranking]
        if len(seen) >= 2:
            best = min(seen)
            first_won.append(seen[0] == best and seen.count(best) == 1)
            shown.append(len(seen))
    return np.array(first_won, dtype=bool), np.array(shown, dtype=float)


def _agreement(
    counts: Sequence[Sequence[Any]], dimensions: list[str], given: NDArray[np.float64]
) -> dict[str, float | None]:
    """Krippendorff's alpha (ordinal) per rubric dimension; units are outputs, coders are raters."""
    dimension_of = np.array([dimensions.index(row[1]) for row in counts])
    return {
        dim: alpha_from_counts(given[dimension_of == j], SCORE_VALUES, "ordinal")
        for j, dim in enumerate(dimensions)
    }


def _patterns(
    r: NDArray[np.int64], v: NDArray[np.int64], ranks: NDArray[np.float64], n_ratings: int, k: int
) -> dict[tuple[int | None, ...], int]:
    """Rankings over variants (several outputs of one variant in a rating share their mean rank), counted
    by distinct pattern: 100k ratings come down to a few dozen patterns for the bootstrap."""
    keys = r * k + v
    sums = np.bincount(keys, weights=ranks, minlength=n_ratings * k)
    counts = np.bincount(keys, minlength=n_ratings * k)
    matrix = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0).reshape(n_ratings, k)
    distinct, how_many = np.unique(matrix, axis=0, return_counts=True)
    patterns: dict[tuple[int | None, ...], int] = {}
    for row, n in zip(distinct.tolist(), how_many.tolist(), strict=True):
        present = sorted({x for x in row if x > 0})
        key = tuple(present.index(x) + 1 if x > 0 else None for x in row)
        patterns[key] = patterns.get(key, 0) + int(n)
    return patterns
