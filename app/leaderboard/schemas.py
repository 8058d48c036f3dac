"""Response bodies of the leaderboard and the retrieval metrics."""

from __future__ import annotations

from pydantic import BaseModel


class RetrievalMetricsOut(BaseModel):
    variant_id: int
    variant_name: str
    outputs_judged: int
    precision_at_k: float
    mrr: float
    k: int


class MeanOut(BaseModel):
    mean: float
    lower: float | None
    upper: float | None
    n: int


class StandingOut(BaseModel):
    id: int
    name: str
    strategy: str
    ratings: int
    # Mean 1-5 score per rubric dimension with a 95% t interval (null bounds for a single rating).
    means: dict[str, MeanOut]
    # Bradley-Terry log-strength (mean 0 across variants) with a bootstrap 95% interval.
    strength: float
    strength_lower: float
    strength_upper: float
    p_best: float


class LeaderboardOut(BaseModel):
    ratings: int
    raters: int
    standings: list[StandingOut]
    # win_rate[i][j]: share of games standing i won against standing j (ties count half); null if none.
    win_rate: list[list[float | None]]
    games: list[list[int]]
    agreement: dict[str, float | None]
    first_shown_wins: float | None
    first_shown_expected: float | None
    retrieval: list[RetrievalMetricsOut]
