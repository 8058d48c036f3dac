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
    if not data.counts:
        return Leaderboard(0, 0, [], [], [], {}, None, None, retrieval)
    # Columns of the count rows, transposed in C rather than row by row.
    output_col, dim_col, *given_cols = zip(*data.counts, strict=True)
    scored_outputs = np.array(output_col, dtype=np.int64)
    given = np.column_stack([np.array(c, dtype=float) for c in given_cols])  # raters per score value, 1-5
    scored = set(np.unique(scored_outputs).tolist())
    variant_ids = sorted({v for o, v in data.output_variant.items() if o in scored})
    if not variant_ids:
        return Leaderboard(0, 0, [], [], [], {}, None, None, retrieval)
    column = {v: i for i, v in enumerate(variant_ids)}
    k = len(variant_ids)
    dimensions = sorted(set(dim_col))
    dim_index = {d: i for i, d in enumerate(dimensions)}
    dimension_of = np.array([dim_index[d] for d in dim_col], dtype=np.int64)
    variant_col = _lookup(scored_outputs, {o: column.get(v, -1) for o, v in data.output_variant.items()})
    known = variant_col >= 0
    cell = (variant_col * len(dimensions) + dimension_of)[known]
    weights = given[known]
    size = k * len(dimensions)
    n = np.bincount(cell, weights=weights.sum(axis=1), minlength=size)
    total = np.bincount(cell, weights=weights @ SCORE_VALUES, minlength=size)
    squares = np.bincount(cell, weights=weights @ SCORE_VALUES**2, minlength=size)
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
    # Every (rating, output, rank) as flat arrays; outputs map to variant columns through sorted lookups.
    r = np.repeat(np.arange(len(rankings)), [len(ranking) for ranking in rankings])
    outputs = np.array([int(o) for ranking in rankings for o in ranking], dtype=np.int64)
    ranks = np.array([rank for ranking in rankings for rank in ranking.values()], dtype=float)
    variant_of = _lookup(outputs, {o: column.get(v, -1) for o, v in data.output_variant.items()})
    keep = variant_of >= 0
    r, outputs, variant_of, ranks = r[keep], outputs[keep], variant_of[keep], ranks[keep]
    patterns, ratings_per_variant = _patterns(r, variant_of, ranks, len(rating_ids), k)
    result = analyse_patterns(patterns, k, resamples=resamples)
    first_won, shown = _position_bias(data, r, outputs, ranks)
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
        agreement=_agreement(dimension_of, dimensions, given),
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


def _lookup(keys: NDArray[np.int64], mapping: dict[int, int]) -> NDArray[np.int64]:
    """mapping[key] for each key (-1 when absent), vectorised through a sorted array."""
    if not mapping or len(keys) == 0:
        return np.full(len(keys), -1, dtype=np.int64)
    known = np.array(sorted(mapping), dtype=np.int64)
    values = np.array([mapping[x] for x in known.tolist()], dtype=np.int64)
    at = np.clip(np.searchsorted(known, keys), 0, len(known) - 1)
    return np.where(known[at] == keys, values[at], -1)


def _position_bias(
    data: BoardData, r: NDArray[np.int64], outputs: NDArray[np.int64], ranks: NDArray[np.float64]
) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Per rating with 2+ ranked outputs: was the first one shown the unique best, and how many were shown."""
    orders = _parse_all([row[2] for row in data.orders], "[]")
    shown_r = np.repeat(np.arange(len(orders)), [len(order) for order in orders])
    shown_o = np.array([o for order in orders for o in order], dtype=np.int64)
    shown_at = (
        np.concatenate([np.arange(len(order)) for order in orders]) if orders else np.zeros(0, np.int64)
    )
    # The rank of each (rating, output) pair shown, found by a sorted search over the ranked pairs.
    width = int(max(outputs.max(initial=0), shown_o.max(initial=0))) + 1
    ranked_key = r * width + outputs
    sort = np.argsort(ranked_key)
    ranked_key, ranked_rank = ranked_key[sort], ranks[sort]
    query = shown_r * width + shown_o
    at = np.clip(np.searchsorted(ranked_key, query), 0, max(len(ranked_key) - 1, 0))
    found = (ranked_key[at] == query) if len(ranked_key) else np.zeros(len(query), bool)
    shown_r, shown_at, shown_rank = shown_r[found], shown_at[found], ranked_rank[at][found]
    n = len(orders)
    count = np.bincount(shown_r, minlength=n)
    best = np.full(n, np.inf)
    np.minimum.at(best, shown_r, shown_rank)
    ties_at_best = np.bincount(shown_r[shown_rank == best[shown_r]], minlength=n)
    first_pos = np.full(n, np.iinfo(np.int64).max)
    np.minimum.at(first_pos, shown_r, shown_at)
    first_rank = np.full(n, np.inf)
    is_first = shown_at == first_pos[shown_r]
    first_rank[shown_r[is_first]] = shown_rank[is_first]
    rated = count >= 2
    won = (first_rank == best) & (ties_at_best == 1)
    return won[rated], count[rated].astype(float)


def _agreement(
    dimension_of: NDArray[np.int64], dimensions: list[str], given: NDArray[np.float64]
) -> dict[str, float | None]:
    """Krippendorff's alpha (ordinal) per rubric dimension; units are outputs, coders are raters."""
    return {
        dim: alpha_from_counts(given[dimension_of == j], SCORE_VALUES, "ordinal")
        for j, dim in enumerate(dimensions)
    }


def _patterns(
    r: NDArray[np.int64], v: NDArray[np.int64], ranks: NDArray[np.float64], n_ratings: int, k: int
) -> tuple[dict[tuple[int | None, ...], int], NDArray[np.int64]]:
    """Rankings over variants (several outputs of one variant in a rating share their mean rank), counted
    by distinct pattern — 100k ratings come down to a few dozen patterns for the bootstrap — and how many
    ratings ranked each variant."""
    keys = r * k + v
    sums = np.bincount(keys, weights=ranks, minlength=n_ratings * k).reshape(n_ratings, k)
    counts = np.bincount(keys, minlength=n_ratings * k).reshape(n_ratings, k)
    matrix = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0)
    quarters = np.rint(matrix * 4).astype(np.int64)
    if k <= 11 and np.array_equal(quarters, matrix * 4) and quarters.max(initial=0) < 49:
        # Each row as one integer (ranks up to 12 in quarter steps: digits 0-48, 0 = unranked; 49^11 fits
        # in 64 bits), so counting patterns is a 1-D unique instead of a row sort. Mean ranks that are not
        # quarter steps take the row sort below, so no two patterns are ever merged.
        codes = quarters @ (49 ** np.arange(k, dtype=np.int64))
        _codes, first, how_many = np.unique(codes, return_index=True, return_counts=True)
        distinct = matrix[first]
    else:
        distinct, how_many = np.unique(matrix, axis=0, return_counts=True)
    patterns: dict[tuple[int | None, ...], int] = {}
    for row, n in zip(distinct.tolist(), how_many.tolist(), strict=True):
        present = sorted({x for x in row if x > 0})
        key = tuple(present.index(x) + 1 if x > 0 else None for x in row)
        patterns[key] = patterns.get(key, 0) + int(n)
    return patterns, (counts > 0).sum(axis=0)
