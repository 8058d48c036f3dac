"""Bradley-Terry strengths from pairwise outcomes implied by rankings (ties count half), with bootstrap.

Ratings are compressed to their distinct outcome patterns before bootstrapping: a resample of N ratings is
then a multinomial draw over a handful of patterns, which keeps 100k ratings x 1,000 resamples fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# Interval bounds from 200 resamples wander by about 0.015 from seed to seed (0.05 at worst); from 1,000 they
# are stable to the digits shown. Over counted ranking patterns 1,000 cost about 5 ms (200: 2 ms).
BOOTSTRAP_RESAMPLES = 1000

Ranking = Sequence[int | None]  # rank per item (1 = best; equal ranks are ties; None = not ranked)


def pairwise_wins(ranking: Ranking) -> NDArray[np.float64]:
    """W[i, j] = 1 if i ranked above j, 0.5 each for a tie; unranked items take part in nothing."""
    n = len(ranking)
    wins = np.zeros((n, n))
    for i in range(n):
        for j in range(i + 1, n):
            a, b = ranking[i], ranking[j]
            if a is None or b is None:
                continue
            if a < b:
                wins[i, j] = 1.0
            elif b < a:
                wins[j, i] = 1.0
            else:
                wins[i, j] = wins[j, i] = 0.5
    return wins


def fit(
    wins: NDArray[np.float64], *, prior: float = 0.5, iterations: int = 200, tol: float = 1e-9
) -> NDArray[np.float64]:
    """Strengths (log scale, mean 0) by Hunter's MM algorithm; `wins` may be (k, k) or a batch (B, k, k).

    `prior` adds that many half-wins between every pair, so an item that never won still gets a finite
    strength (and a perfectly separated set does not diverge).
    """
    w = np.asarray(wins, dtype=float)
    batched = w.ndim == 3
    w = w if batched else w[None]
    k = w.shape[-1]
    off_diagonal = 1.0 - np.eye(k)
    w = w + prior / 2 * off_diagonal
    games = w + np.swapaxes(w, 1, 2)  # n_ij
    total_wins = w.sum(axis=2)  # W_i
    p = np.ones(w.shape[:2])
    for _ in range(iterations):
        denom = (games / (p[:, :, None] + p[:, None, :])).sum(axis=2)
        updated = total_wins / denom
        updated /= np.exp(np.log(updated).mean(axis=1, keepdims=True))
        done = np.abs(updated - p).max() < tol
        p = updated
        if done:
            break
    strengths = np.log(p)
    strengths -= strengths.mean(axis=1, keepdims=True)
    return strengths if batched else strengths[0]


@dataclass(frozen=True)
class BradleyTerryResult:
    strengths: NDArray[np.float64]  # log-strength per item, mean 0
    lower: NDArray[np.float64]  # 2.5th bootstrap percentile
    upper: NDArray[np.float64]  # 97.5th bootstrap percentile
    p_best: NDArray[np.float64]  # share of bootstrap fits in which the item is strongest
    win_rate: NDArray[np.float64]  # observed share of decided-or-tied games i won against j (NaN if none)
    games: NDArray[np.float64]  # number of pairwise games between i and j


def analyse(
    rankings: Sequence[Ranking], k: int, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> BradleyTerryResult:
    """Fit strengths, bootstrap 95% intervals and P(best), and the win-rate matrix, from per-rating rankings."""
    patterns: dict[tuple[int | None, ...], int] = {}
    for ranking in rankings:
        key = tuple(ranking)
        patterns[key] = patterns.get(key, 0) + 1
    return analyse_patterns(patterns, k, resamples=resamples, seed=seed)


def analyse_patterns(
    patterns: dict[tuple[int | None, ...], int], k: int, *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> BradleyTerryResult:
    """`analyse` for rankings already counted: {ranking: how many ratings gave it}."""
    if any(len(key) != k for key in patterns):
        raise ValueError(f"each ranking must rank {k} items")
    keys = list(patterns)
    counts = np.array([patterns[key] for key in keys], dtype=float)
    contributions = np.stack([pairwise_wins(key) for key in keys]) if keys else np.zeros((0, k, k))
    wins = np.tensordot(counts, contributions, axes=1) if keys else np.zeros((k, k))
    strengths = fit(wins)
    games = wins + wins.T
    with np.errstate(invalid="ignore", divide="ignore"):
        win_rate = np.where(games > 0, wins / games, np.nan)
    if keys and resamples > 0:
        rng = np.random.default_rng(seed)
        draws = rng.multinomial(int(counts.sum()), counts / counts.sum(), size=resamples).astype(float)
        boot = fit(np.tensordot(draws, contributions, axes=1))
        lower, upper = np.percentile(boot, [2.5, 97.5], axis=0)
        best = np.bincount(boot.argmax(axis=1), minlength=k) / resamples
    else:
        lower, upper, best = strengths.copy(), strengths.copy(), np.full(k, 1.0 / k)
    return BradleyTerryResult(strengths, lower, upper, best, win_rate, games)
