"""Paired comparison of variant A against variant B over the same items: wins/ties/losses, a bootstrap
interval for the mean difference (A - B) and an exact sign test.

No figure is ever NaN: where a quantity is undefined (no items, or one item for an interval) it is None.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from app.stats.bradley_terry import BOOTSTRAP_RESAMPLES

MIN_RESAMPLES = 1000  # below this, percentile bounds move visibly from seed to seed (see bradley_terry)

# Resample means are computed in blocks so the index matrix stays near 32 MB however many items there are.
_BLOCK_CELLS = 1 << 22


@dataclass(frozen=True)
class PairedResult:
    wins: int  # items where A beat B
    ties: int
    losses: int  # items where B beat A
    mean_difference: float | None  # mean of A - B; None with no items
    lower: float | None  # bootstrap percentile bounds; None with fewer than two items
    upper: float | None
    p_value: float | None  # two-sided sign test; None when every item is a tie (or there are none)
    n: int  # items compared (pairs with a missing score are not counted)


def sign_test(wins: int, losses: int) -> float | None:
    """Exact two-sided binomial sign test of wins against losses (ties already dropped); None if both are 0."""
    if wins < 0 or losses < 0:
        raise ValueError("wins and losses must not be negative")
    n = wins + losses
    if n == 0:
        return None
    # Under H0 X ~ Bin(n, 1/2) is symmetric, so doubling the smaller tail is the exact two-sided p.
    return min(1.0, 2.0 * float(stats.binom.cdf(min(wins, losses), n, 0.5)))


def bootstrap_mean_interval(
    differences: Sequence[float],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float] | None:
    """(mean, lower, upper) by percentile bootstrap over items; None with fewer than two differences.

    One item has no spread to resample: every resample repeats it, and (d, d, d) would claim certainty that
    the data cannot give, so the interval is reported as missing instead.
    """
    _check_bootstrap(resamples, confidence)
    values = np.asarray(differences, dtype=float)
    if values.ndim != 1:
        raise ValueError("differences must be a flat sequence")
    if not np.isfinite(values).all():
        raise ValueError("differences must be finite numbers")
    return _interval(values, resamples, confidence, seed)


def _interval(
    values: NDArray[np.float64], resamples: int, confidence: float, seed: int
) -> tuple[float, float, float] | None:
    if len(values) < 2:
        return None
    if values.min() == values.max():
        # Every resample is the same; answering directly avoids a mean (and bounds) off by a rounding error.
        value = float(values[0])
        return value, value, value
    mean = float(values.mean())
    means = _resample_means(values, resamples, np.random.default_rng(seed))
    tail = (1.0 - confidence) / 2
    lower, upper = np.quantile(means, [tail, 1.0 - tail])
    return mean, float(lower), float(upper)


def compare_paired(
    a: Sequence[float | None],
    b: Sequence[float | None],
    *,
    tolerance: float = 1e-9,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedResult:
    """Compare aligned per-item scores of A and B; items missing either score are dropped, |a - b| <= tolerance
    is a tie."""
    if len(a) != len(b):
        raise ValueError(f"a and b must score the same items ({len(a)} != {len(b)})")
    if tolerance < 0:
        raise ValueError("tolerance must not be negative")
    _check_bootstrap(resamples, confidence)
    kept = [(x, y) for x, y in zip(a, b, strict=True) if x is not None and y is not None]
    if not all(math.isfinite(x) and math.isfinite(y) for x, y in kept):
        raise ValueError("scores must be finite numbers or None")
    differences = np.array([x - y for x, y in kept], dtype=float)
    wins = int(np.count_nonzero(differences > tolerance))
    losses = int(np.count_nonzero(differences < -tolerance))
    return _summarise(differences, wins, len(kept) - wins - losses, losses, resamples, confidence, seed)


def compare_outcomes(
    outcomes: Sequence[int],
    *,
    resamples: int = BOOTSTRAP_RESAMPLES,
    confidence: float = 0.95,
    seed: int = 0,
) -> PairedResult:
    """Summarise per-item preferences (+1 A better, 0 tie, -1 B better); the mean difference is the mean outcome."""
    if any(o not in (-1, 0, 1) for o in outcomes):
        raise ValueError("outcomes must be +1 (A better), 0 (tie) or -1 (B better)")
    _check_bootstrap(resamples, confidence)
    differences = np.array(outcomes, dtype=float)
    wins = int(np.count_nonzero(differences > 0))
    losses = int(np.count_nonzero(differences < 0))
    return _summarise(differences, wins, len(outcomes) - wins - losses, losses, resamples, confidence, seed)


def _summarise(
    differences: NDArray[np.float64],
    wins: int,
    ties: int,
    losses: int,
    resamples: int,
    confidence: float,
    seed: int,
) -> PairedResult:
    n = len(differences)
    interval = _interval(differences, resamples, confidence, seed)
    if interval is not None:
        mean, lower, upper = interval
        return PairedResult(wins, ties, losses, mean, lower, upper, sign_test(wins, losses), n)
    mean_only = float(differences[0]) if n == 1 else None
    return PairedResult(wins, ties, losses, mean_only, None, None, sign_test(wins, losses), n)


def _check_bootstrap(resamples: int, confidence: float) -> None:
    if resamples < MIN_RESAMPLES:
        raise ValueError(f"resamples must be at least {MIN_RESAMPLES}: fewer give unstable bounds")
    if not 0.0 < confidence < 1.0:
        raise ValueError("confidence must be between 0 and 1")


def _resample_means(
    values: NDArray[np.float64], resamples: int, rng: np.random.Generator
) -> NDArray[np.float64]:
    n = len(values)
    block = max(1, _BLOCK_CELLS // n)
    means = np.empty(resamples)
    for start in range(0, resamples, block):
        stop = min(resamples, start + block)
        index = rng.integers(0, n, size=(stop - start, n))
        means[start:stop] = values[index].mean(axis=1)
    return means
