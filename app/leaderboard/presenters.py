"""The leaderboard as the API and page show it."""

from __future__ import annotations

import math
from dataclasses import asdict

from app.leaderboard.schemas import LeaderboardOut, MeanOut, RetrievalMetricsOut, StandingOut
from app.leaderboard.service import Leaderboard
from app.stats.intervals import MeanInterval


def leaderboard_out(board: Leaderboard) -> LeaderboardOut:
    def mean(interval: MeanInterval) -> MeanOut:
        finite = math.isfinite(interval.lower)
        return MeanOut(
            mean=round(interval.mean, 4),
            lower=round(interval.lower, 4) if finite else None,
            upper=round(interval.upper, 4) if finite else None,
            n=interval.n,
        )

    return LeaderboardOut(
        ratings=board.ratings,
        raters=board.raters,
        standings=[
            StandingOut(
                id=s.id,
                name=s.name,
                strategy=s.strategy,
                ratings=s.ratings,
                means={dim: mean(m) for dim, m in s.means.items()},
                strength=round(s.strength, 4),
                strength_lower=round(s.strength_lower, 4),
                strength_upper=round(s.strength_upper, 4),
                p_best=round(s.p_best, 4),
            )
            for s in board.standings
        ],
        win_rate=[[None if v is None else round(v, 4) for v in row] for row in board.win_rate],
        games=board.games,
        agreement={k: None if v is None else round(v, 4) for k, v in board.agreement.items()},
        first_shown_wins=board.first_shown_wins,
        first_shown_expected=board.first_shown_expected,
        retrieval=[RetrievalMetricsOut(**asdict(m)) for m in board.retrieval],
    )
