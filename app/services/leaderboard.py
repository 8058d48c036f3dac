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

from app.repository.comparisons import rating_orders, ratings_fingerprint, score_rows, variant_names
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


class LeaderboardService:
    def __init__(self, session: AsyncSession, cache: LeaderboardCache | None = None):
        self.session = session
        self.cache = cache

    async def compute(self, filters: Filters | None = None, *, resamples: int = 200) -> Leaderboard:
        filters = filters or Filters()
        fingerprint = await ratings_fingerprint(self.session)
        retrieval = await JudgementService(self.session).metrics()
        if (
            self.cache is not None
            and (board := self.cache.get((filters, resamples), fingerprint)) is not None
        ):
            board.retrieval = retrieval
            return board
        scores = await score_rows(self.session, filters)
        orders = await rating_orders(self.session, filters)
        names = await variant_names(self.session, {row[3] for row in scores})
        board = summarise(scores, orders, names, retrieval, resamples=resamples)
        if self.cache is not None:
            self.cache.put((filters, resamples), fingerprint, board)
        return board


def summarise(
    scores: Sequence[Sequence[Any]],
    orders: Sequence[Sequence[Any]],
    names: dict[int, tuple[str, str]],
    retrieval: list[RetrievalMetrics],
    *,
    resamples: int = 200,
) -> Leaderboard:
    """The statistics from `score_rows` (rating, rater, output, variant, dimension, score) and `rating_orders`
    (rating, display order, ranking). Pure, so the bench can time it apart from the database."""
    if not scores:
        return Leaderboard(0, 0, [], [], [], {}, None, None, retrieval)
    rating_col, rater_col, output_col, variant_col, dim_col, value_col = zip(*scores, strict=True)
    rating_ids, r = np.unique(np.asarray(rating_col), return_inverse=True)
    output_ids, u = np.unique(np.asarray(output_col), return_inverse=True)
    variant_ids, v = np.unique(np.asarray(variant_col), return_inverse=True)
    dimensions = sorted(set(dim_col))
    dim_index = {d: i for i, d in enumerate(dimensions)}
    d = np.fromiter((dim_index[x] for x in dim_col), dtype=np.int64, count=len(dim_col))
    values = np.asarray(value_col, dtype=float)
    n_ratings, n_variants = len(rating_ids), len(variant_ids)

    means = _means(v, d, values, n_variants, dimensions)
    # A rating counts for a variant once, however many of its outputs it scored.
    rated_pairs = np.unique(r * n_variants + v)
    ratings_per_variant = np.bincount(rated_pairs % n_variants, minlength=n_variants)
    agreement = {dim: _alpha(u[d == i], values[d == i], len(output_ids)) for i, dim in enumerate(dimensions)}
    ranks, first_won, shown = _ranks(orders, rating_ids, output_ids, r, u, values)
    output_variant = np.zeros(len(output_ids), dtype=np.int64)
    output_variant[u] = v
    patterns = _patterns(ranks, output_variant, n_ratings, n_variants)
    result = analyse_patterns(patterns, n_variants, resamples=resamples)

    standings = [
        VariantStanding(
            int(variant_ids[i]),
            *names.get(int(variant_ids[i]), (f"variant {variant_ids[i]}", "")),
            int(ratings_per_variant[i]),
            means[i],
            float(result.strengths[i]),
            float(result.lower[i]),
            float(result.upper[i]),
            float(result.p_best[i]),
        )
        for i in range(n_variants)
    ]
    order = sorted(range(n_variants), key=lambda i: -standings[i].strength)
    raters = len(set(rater_col))
    return Leaderboard(
        ratings=n_ratings,
        raters=raters,
        standings=[standings[i] for i in order],
        win_rate=[
            [None if result.games[i, j] == 0 else float(result.win_rate[i, j]) for j in order] for i in order
        ],
        games=[[int(result.games[i, j]) for j in order] for i in order],
        agreement=agreement,
        first_shown_wins=float(np.mean(first_won)) if len(first_won) else None,
        first_shown_expected=float(np.mean(1.0 / shown)) if len(shown) else None,
        retrieval=retrieval,
    )


def _means(
    v: NDArray[np.int64], d: NDArray[np.int64], values: NDArray[np.float64], k: int, dimensions: list[str]
) -> list[dict[str, MeanInterval]]:
    """Mean and t interval per (variant, dimension) from counts, sums and sums of squares."""
    key = v * len(dimensions) + d
    size = k * len(dimensions)
    n = np.bincount(key, minlength=size)
    total = np.bincount(key, weights=values, minlength=size)
    squares = np.bincount(key, weights=values**2, minlength=size)
    result: list[dict[str, MeanInterval]] = [{} for _ in range(k)]
    for i in range(k):
        for j, dim in enumerate(dimensions):
            at = i * len(dimensions) + j
            if n[at]:
                result[i][dim] = interval_from_moments(int(n[at]), total[at], squares[at], bounds=SCORE_SCALE)
    return result


def _alpha(units: NDArray[np.int64], values: NDArray[np.float64], n_units: int) -> float | None:
    """Krippendorff's alpha (ordinal) for one dimension: units are outputs, coders are raters."""
    cells = units * len(SCORE_VALUES) + (values.astype(np.int64) - 1)
    counts = np.bincount(cells, minlength=n_units * len(SCORE_VALUES)).reshape(n_units, len(SCORE_VALUES))
    return alpha_from_counts(counts.astype(float), SCORE_VALUES, "ordinal")


def _ranks(
    orders: Sequence[Sequence[Any]],
    rating_ids: NDArray[np.int64],
    output_ids: NDArray[np.int64],
    r: NDArray[np.int64],
    u: NDArray[np.int64],
    values: NDArray[np.float64],
) -> tuple[dict[tuple[int, int], float], NDArray[np.bool_], NDArray[np.float64]]:
    """Each rating's rank per output (1 = best), whether the first output shown was the unique best, and
    how many outputs were shown. Ratings from before rankings existed rank by mean score."""
    rating_at = {int(x): i for i, x in enumerate(rating_ids)}
    output_at = {int(x): i for i, x in enumerate(output_ids)}
    scored: dict[tuple[int, int], list[float]] = {}
    ranks: dict[tuple[int, int], float] = {}
    first_won, shown = [], []
    for rating_id, display_order, ranking in orders:
        ri = rating_at.get(rating_id)
        if ri is None:
            continue
        ranking = json.loads(ranking) if isinstance(ranking, str) else ranking
        if not ranking:
            if not scored:  # built once, only when there are legacy ratings
                for a, b, x in zip(r.tolist(), u.tolist(), values.tolist(), strict=True):
                    scored.setdefault((a, b), []).append(x)
            overall = {b: sum(s) / len(s) for (a, b), s in scored.items() if a == ri}
            distinct = sorted(set(overall.values()), reverse=True)
            ranking = {str(int(output_ids[b])): distinct.index(m) + 1 for b, m in overall.items()}
        local = {output_at[int(o)]: float(k) for o, k in ranking.items() if int(o) in output_at}
        for b, k in local.items():
            ranks[(ri, b)] = k
        display_order = json.loads(display_order) if isinstance(display_order, str) else display_order
        seen = [output_at[o] for o in display_order or [] if o in output_at and output_at[o] in local]
        if len(seen) >= 2:
            best = min(local[b] for b in seen)
            first_won.append(local[seen[0]] == best and sum(local[b] == best for b in seen) == 1)
            shown.append(len(seen))
    return ranks, np.array(first_won, dtype=bool), np.array(shown, dtype=float)


def _patterns(
    ranks: dict[tuple[int, int], float], output_variant: NDArray[np.int64], n_ratings: int, k: int
) -> dict[tuple[int | None, ...], int]:
    """Rankings over variants (several outputs of one variant in a rating share their mean rank), counted
    by distinct pattern: 100k ratings come down to a few dozen patterns for the bootstrap."""
    sums = np.zeros(n_ratings * k)
    counts = np.zeros(n_ratings * k)
    if ranks:
        keys = np.fromiter(
            ((ri * k + output_variant[b]) for ri, b in ranks), dtype=np.int64, count=len(ranks)
        )
        np.add.at(sums, keys, np.fromiter(ranks.values(), dtype=float, count=len(ranks)))
        np.add.at(counts, keys, 1.0)
    with np.errstate(invalid="ignore"):
        matrix = np.where(counts > 0, sums / np.maximum(counts, 1), 0.0).reshape(n_ratings, k)
    distinct, how_many = np.unique(matrix, axis=0, return_counts=True)
    patterns: dict[tuple[int | None, ...], int] = {}
    for row, n in zip(distinct.tolist(), how_many.tolist(), strict=True):
        present = sorted({x for x in row if x > 0})
        key = tuple(present.index(x) + 1 if x > 0 else None for x in row)
        patterns[key] = patterns.get(key, 0) + int(n)
    return patterns
