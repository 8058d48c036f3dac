"""Means with 95% confidence intervals, and position bias."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class MeanInterval:
    mean: float
    lower: float
    upper: float
    n: int


def mean_interval(
    values: Sequence[float], confidence: float = 0.95, bounds: tuple[float, float] | None = None
) -> MeanInterval | None:
    """Student-t interval for the mean, clipped to the scale's `bounds` when given (a mean of 1-5 scores
    cannot leave 1-5); a single value has no interval (infinite, or the whole scale)."""
    if not values:
        return None
    return interval_from_moments(len(values), sum(values), sum(v * v for v in values), confidence, bounds)


def interval_from_moments(
    n: int, total: float, squares: float, confidence: float = 0.95, bounds: tuple[float, float] | None = None
) -> MeanInterval:
    """The same interval from n, the sum and the sum of squares (what a vectorised group-by gives)."""
    low, high = bounds or (float("-inf"), float("inf"))
    mean = total / n
    if n == 1:
        return MeanInterval(mean, low, high, 1)
    variance = max(0.0, (squares - n * mean * mean) / (n - 1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * math.sqrt(variance / n)
    return MeanInterval(mean, max(low, mean - half), min(high, mean + half), n)
