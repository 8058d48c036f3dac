"""The leaderboard: mean scores with 95% intervals, a Bradley-Terry ranking with bootstrap intervals,
win rates, P(best), inter-rater agreement and position bias — all from stored ratings."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.repository.comparisons import rating_rows
from app.services.judgements import JudgementService, RetrievalMetrics
from app.stats.agreement import krippendorff_alpha
from app.stats.bradley_terry import analyse
from app.stats.intervals import MeanInterval, first_position_win_rate, mean_interval

SCORE_SCALE = (1.0, 5.0)


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


@dataclass
class _Rating:
    rater: str
    display_order: list[int]
    # {output id as text: rank}; empty for ratings stored before rankings existed.
    ranking: dict[str, int]
    # output id -> (variant id, {dimension: score})
    outputs: dict[int, tuple[int, dict[str, int]]] = field(default_factory=dict)

    def overall(self, output_id: int) -> float:
        scores = self.outputs[output_id][1]
        return sum(scores.values()) / len(scores)

    def rank(self, output_id: int) -> float:
        """The rater's rank (1 = best); old ratings without one rank by score, best = 1."""
        if self.ranking:
            return float(self.ranking.get(str(output_id), len(self.outputs)))
        return float(_dense_ranks({o: -self.overall(o) for o in self.outputs})[output_id])


def _dense_ranks(values: dict[int, float]) -> dict[int, int]:
    """1 = lowest value; equal values share a rank (a tie)."""
    distinct = sorted(set(values.values()))
    return {key: distinct.index(value) + 1 for key, value in values.items()}


class LeaderboardService:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def compute(self, filters: Filters | None = None, *, resamples: int = 200) -> Leaderboard:
        ratings: dict[int, _Rating] = {}
        names: dict[int, tuple[str, str]] = {}
        per_dimension: dict[tuple[int, str], list[float]] = defaultdict(list)
        for (
            rating_id,
            rater,
            _cmp,
            order,
            ranking,
            output_id,
            variant_id,
            name,
            strategy,
            dimension,
            score,
        ) in await rating_rows(self.session, filters or Filters()):
            names[variant_id] = (name, strategy)
            rating = ratings.setdefault(rating_id, _Rating(rater, list(order or []), dict(ranking or {})))
            rating.outputs.setdefault(output_id, (variant_id, {}))[1][dimension] = score
            per_dimension[(variant_id, dimension)].append(score)
        variant_ids = sorted(names)
        column = {v: i for i, v in enumerate(variant_ids)}
        rankings, first_won, expected = [], [], []
        for rating in ratings.values():
            # A rating's ranking implies pairwise outcomes (ties count half); several outputs of one variant
            # in a comparison are averaged.
            by_variant: dict[int, list[float]] = defaultdict(list)
            for output_id, (variant_id, _scores) in rating.outputs.items():
                by_variant[variant_id].append(rating.rank(output_id))
            ranks = _dense_ranks({v: sum(r) / len(r) for v, r in by_variant.items()})
            rankings.append([ranks.get(v) for v in variant_ids])
            shown = [o for o in rating.display_order if o in rating.outputs]
            if len(shown) >= 2:
                top = [o for o in shown if rating.rank(o) == min(rating.rank(x) for x in shown)]
                first_won.append(top == [shown[0]])
                expected.append(1 / len(shown))
        k = len(variant_ids)
        result = analyse(rankings, k, resamples=resamples) if k else None
        counts: dict[int, int] = defaultdict(int)
        for rating in ratings.values():
            for variant_id in {v for v, _s in rating.outputs.values()}:
                counts[variant_id] += 1
        standings = []
        for variant_id in variant_ids:
            i = column[variant_id]
            means = {
                dim: interval
                for (v, dim), values in sorted(per_dimension.items())
                if v == variant_id and (interval := mean_interval(values, bounds=SCORE_SCALE)) is not None
            }
            assert result is not None
            standings.append(
                VariantStanding(
                    variant_id,
                    *names[variant_id],
                    counts[variant_id],
                    means,
                    float(result.strengths[i]),
                    float(result.lower[i]),
                    float(result.upper[i]),
                    float(result.p_best[i]),
                )
            )
        order = sorted(range(k), key=lambda i: -standings[i].strength)
        return Leaderboard(
            ratings=len(ratings),
            raters=len({r.rater for r in ratings.values()}),
            standings=[standings[i] for i in order],
            win_rate=[
                [
                    None if result is None or result.games[i, j] == 0 else float(result.win_rate[i, j])
                    for j in order
                ]
                for i in order
            ],
            games=[[int(result.games[i, j]) if result is not None else 0 for j in order] for i in order],
            agreement=self._agreement(ratings),
            first_shown_wins=first_position_win_rate(first_won),
            first_shown_expected=sum(expected) / len(expected) if expected else None,
            retrieval=await JudgementService(self.session).metrics(),
        )

    @staticmethod
    def _agreement(ratings: dict[int, _Rating]) -> dict[str, float | None]:
        """Krippendorff's alpha (ordinal) per rubric dimension; units are outputs, coders are raters."""
        table: dict[str, dict[str, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
        for rating in ratings.values():
            for output_id, (_variant, scores) in rating.outputs.items():
                for dimension, score in scores.items():
                    table[dimension][rating.rater][output_id] = score
        alphas: dict[str, float | None] = {}
        for dimension, by_rater in sorted(table.items()):
            units = sorted({o for scores in by_rater.values() for o in scores})
            data = [[scores.get(u) for u in units] for scores in by_rater.values()]
            alphas[dimension] = krippendorff_alpha(data, "ordinal") if len(data) >= 2 else None
        return alphas
