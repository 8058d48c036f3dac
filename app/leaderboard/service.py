"""The leaderboard: mean scores with 95% intervals, a Bradley-Terry ranking with bootstrap intervals,
win rates, P(best), inter-rater agreement and position bias — all from stored ratings.

Read from aggregates kept in step with the ratings (score tallies, rating digests: app.repository.board), so
100k ratings come down to a few hundred grouped rows; cached per filter until a rating changes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.filters import Filters
from app.leaderboard.repository import (
    RANKS_SEPARATOR,
    chunk_marks,
    comparison_groups,
    digest_groups,
    marks_fingerprint,
    ratings_fingerprint,
    tally_groups,
    variant_names,
)
from app.stats.agreement import alpha_from_counts
from app.stats.bradley_terry import BOOTSTRAP_RESAMPLES, analyse_items
from app.stats.intervals import MeanInterval, interval_from_moments
from app.stats.rating_digest import parse_variant_ranks

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


class LeaderboardCache:
    """Computed boards per filter, valid while the fingerprint of ratings and relevance marks is unchanged."""

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
    """What the database groups for a leaderboard (see app.repository.board)."""

    tallies: Sequence[Sequence[Any]]  # (variant id, dimension, raters who gave 1, ..., 5, outputs like that)
    digests: Sequence[
        Sequence[Any]
    ]  # (variant ranks, first shown best, ranked shown, rater, ratings like that)
    names: dict[int, tuple[str, str]]
    # (one comparison's rankings joined by RANKS_SEPARATOR, comparisons like that): the bootstrap's items
    comparisons: Sequence[Sequence[Any]] = ()


class LeaderboardService:
    """The board as `reader` may see it: a blind rater's counts only the comparisons they revealed."""

    def __init__(self, session: AsyncSession, reader: Principal, cache: LeaderboardCache | None = None):
        self.session = session
        self.reader = reader
        self.cache = cache

    async def load(self, filters: Filters) -> BoardData:
        tallies = await tally_groups(self.session, filters)
        digests = await digest_groups(self.session, filters)
        comparisons = await comparison_groups(self.session, filters)
        variants = {row[0] for row in tallies}
        variants |= {v for text in {row[0] for row in digests} for v in parse_variant_ranks(text)}
        return BoardData(tallies, digests, await variant_names(self.session, variants), comparisons)

    async def retrieval(self, filters: Filters | None = None) -> list[RetrievalMetrics]:
        """Precision@k and MRR per RAG variant (see `retrieval_metrics`)."""
        return await retrieval_metrics(self.session, (filters or Filters()).seen_by(self.reader))

    async def compute(self, filters: Filters | None = None, *, resamples: int = BOOTSTRAP_RESAMPLES) -> Leaderboard:
        filters = (filters or Filters()).seen_by(self.reader)
        # Relevance marks feed the retrieval metrics, which are cached with the board.
        fingerprint = await ratings_fingerprint(self.session) + await marks_fingerprint(self.session)
        if (
            self.cache is not None
            and (board := self.cache.get((filters, resamples), fingerprint)) is not None
        ):
            # Names are read afresh: a variant renamed since is shown under its new name. The cached board
            # is shared between requests, so it is copied, never edited.
            names = await variant_names(self.session, {s.id for s in board.standings})
            standings = []
            for standing in board.standings:
                name, strategy = names.get(standing.id, (standing.name, standing.strategy))
                standings.append(replace(standing, name=name, strategy=strategy))
            return replace(board, standings=standings)
        retrieval = await retrieval_metrics(self.session, filters)
        board = summarise(await self.load(filters), retrieval, resamples=resamples)
        if self.cache is not None:
            self.cache.put((filters, resamples), fingerprint, board)
        return board


def summarise(data: BoardData, retrieval: list[RetrievalMetrics], *, resamples: int = BOOTSTRAP_RESAMPLES) -> Leaderboard:
    """The statistics from what `load` grouped. Pure, so the bench can time it apart from the database."""
    patterns = _patterns(data.digests)
    variant_ids = sorted(
        {row[0] for row in data.tallies} | {v for ranks, _ in patterns.values() for v in ranks}
    )
    if not variant_ids:
        return Leaderboard(0, 0, [], [], [], {}, None, None, retrieval)
    column = {v: i for i, v in enumerate(variant_ids)}
    k = len(variant_ids)
    dimensions = sorted({row[1] for row in data.tallies})
    dim_index = {d: i for i, d in enumerate(dimensions)}
    tallies = np.array([row[2:8] for row in data.tallies], dtype=float).reshape(-1, 6)
    given, outputs = tallies[:, :5], tallies[:, 5]  # raters per score value 1-5; outputs with that tally
    dimension_of = np.array([dim_index[row[1]] for row in data.tallies], dtype=np.int64)
    cell = np.array([column[row[0]] for row in data.tallies], dtype=np.int64) * len(dimensions) + dimension_of
    size = k * len(dimensions)
    n = np.bincount(cell, weights=outputs * given.sum(axis=1), minlength=size)
    total = np.bincount(cell, weights=outputs * (given @ SCORE_VALUES), minlength=size)
    squares = np.bincount(cell, weights=outputs * (given @ SCORE_VALUES**2), minlength=size)
    means: list[dict[str, MeanInterval]] = [
        {
            dim: interval_from_moments(int(n[at]), total[at], squares[at], bounds=SCORE_SCALE)
            for j, dim in enumerate(dimensions)
            if n[(at := i * len(dimensions) + j)] > 0
        }
        for i in range(k)
    ]
    ratings_per_variant = np.zeros(k, dtype=np.int64)
    for ranks, how_many in patterns.values():
        ratings_per_variant[[column[v] for v in ranks]] += how_many
    # The bootstrap draws comparisons, each with all its ratings: raters of one comparison agree more than
    # independent ratings would, and drawing ratings one by one made the intervals too narrow.
    result = analyse_items(_comparison_patterns(data.comparisons, variant_ids), k, resamples=resamples)
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
    first_wins, first_expected = _position_bias(data.digests)
    return Leaderboard(
        ratings=sum(row[4] for row in data.digests),
        raters=len({row[3] for row in data.digests}),
        standings=[standings[i] for i in order],
        win_rate=[
            [None if result.games[i, j] == 0 else float(result.win_rate[i, j]) for j in order] for i in order
        ],
        games=[[int(result.games[i, j]) for j in order] for i in order],
        agreement={
            dim: alpha_from_counts(
                given[dimension_of == j], SCORE_VALUES, "ordinal", weights=outputs[dimension_of == j]
            )
            for j, dim in enumerate(dimensions)
        },
        first_shown_wins=first_wins,
        first_shown_expected=first_expected,
        retrieval=retrieval,
    )


def _comparison_patterns(
    groups: Sequence[Sequence[Any]], variant_ids: list[int]
) -> dict[tuple[tuple[int | None, ...], ...], int]:
    """{one comparison's rankings over `variant_ids`, in a canonical order: how many comparisons}."""
    # The database joins a comparison's rankings in no particular order: sorted, equal sets meet.
    by_text: dict[tuple[str, ...], int] = {}
    for joined, how_many in groups:
        key = tuple(sorted(joined.split(RANKS_SEPARATOR)))
        by_text[key] = by_text.get(key, 0) + how_many
    parsed = {}
    for text in {text for key in by_text for text in key}:
        ranks = parse_variant_ranks(text)
        parsed[text] = tuple(ranks.get(v) for v in variant_ids)
    found: dict[tuple[tuple[int | None, ...], ...], int] = {}
    for key, how_many in by_text.items():
        rankings = tuple(parsed[text] for text in key)
        found[rankings] = found.get(rankings, 0) + how_many
    return found


def _patterns(digests: Sequence[Sequence[Any]]) -> dict[str, tuple[dict[int, int], int]]:
    """{variant ranks as stored: (the same parsed, how many ratings gave them)}, over every rater."""
    by_text: dict[str, int] = {}
    for variant_ranks, _best, _shown, _rater, how_many in digests:
        if variant_ranks:
            by_text[variant_ranks] = by_text.get(variant_ranks, 0) + how_many
    return {text: (parse_variant_ranks(text), how_many) for text, how_many in by_text.items()}


def _position_bias(digests: Sequence[Sequence[Any]]) -> tuple[float | None, float | None]:
    """Over ratings with a single best answer: how often it was the one shown first, and how often that would
    happen by chance (1 / answers shown)."""
    judged = [
        (bool(best), shown, how_many) for _ranks, best, shown, _rater, how_many in digests if best is not None
    ]
    ratings = sum(how_many for *_, how_many in judged)
    if not ratings:
        return None, None
    won = sum(how_many for best, _shown, how_many in judged if best)
    expected = sum(how_many / shown for _best, shown, how_many in judged)
    return won / ratings, expected / ratings


@dataclass(frozen=True)
class RetrievalMetrics:
    variant_id: int
    variant_name: str
    outputs_judged: int
    precision_at_k: float
    mrr: float
    k: int


def precision_and_mrr(judged: dict[int, dict[int, bool]], k: int) -> tuple[float, float]:
    """Mean precision@k and mean reciprocal rank over outputs; `judged` maps output -> rank -> relevant.

    Unjudged ranks count as not relevant: precision is a lower bound until every chunk is marked.
    """
    if not judged:
        return 0.0, 0.0
    precisions, reciprocal = [], []
    for ranks in judged.values():
        precisions.append(sum(1 for r in range(1, k + 1) if ranks.get(r)) / k)
        first = min((r for r, relevant in ranks.items() if relevant), default=None)
        reciprocal.append(1.0 / first if first else 0.0)
    return sum(precisions) / len(precisions), sum(reciprocal) / len(reciprocal)


def majority(votes: list[bool]) -> bool:
    """Several raters on one chunk: relevant when at least half say so."""
    return sum(votes) * 2 >= len(votes)


async def retrieval_metrics(session: AsyncSession, filters: Filters) -> list[RetrievalMetrics]:
    """Precision@k and MRR per retrieval variant, over every output with at least one mark (majority vote per
    chunk), from the comparisons `filters` let through."""
    votes: dict[int, dict[int, dict[int, list[bool]]]] = defaultdict(lambda: defaultdict(lambda: defaultdict(list)))
    names: dict[int, str] = {}
    ks: dict[int, int] = {}
    for variant_id, name, top_k, output_id, rank, relevant in await chunk_marks(session, filters):
        names[variant_id] = name
        ks[variant_id] = max(ks.get(variant_id, 0), top_k)
        votes[variant_id][output_id][rank].append(relevant)
    results = []
    for variant_id, outputs in sorted(votes.items()):
        judged = {o: {r: majority(v) for r, v in ranks.items()} for o, ranks in outputs.items()}
        precision, mrr = precision_and_mrr(judged, ks[variant_id])
        results.append(
            RetrievalMetrics(variant_id, names[variant_id], len(judged), round(precision, 4), round(mrr, 4), ks[variant_id])
        )
    return results
