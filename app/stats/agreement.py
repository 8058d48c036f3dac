"""Krippendorff's alpha (nominal, ordinal, interval) for raters x units data with gaps."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import Literal

import numpy as np
from numpy.typing import NDArray

Metric = Literal["nominal", "ordinal", "interval"]


def krippendorff_alpha(data: Sequence[Sequence[float | None]], metric: Metric = "ordinal") -> float | None:
    """Alpha for a raters x units table (None = no value); None when there is nothing pairable.

    Follows Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability": a coincidence matrix over
    pairable values, and the ordinal distance built from the marginals of that matrix.
    """
    values = sorted({v for row in data for v in row if v is not None})
    if len(values) < 2:
        return None
    index = {v: i for i, v in enumerate(values)}
    n_units = max(len(row) for row in data)
    counts = np.zeros((n_units, len(values)))
    for row in data:
        for unit, value in enumerate(row):
            if value is not None:
                counts[unit, index[value]] += 1
    return alpha_from_counts(counts, np.array(values, dtype=float), metric)


def alpha_from_counts(
    counts: NDArray[np.float64],
    values: NDArray[np.float64],
    metric: Metric = "ordinal",
    weights: NDArray[np.float64] | None = None,
) -> float | None:
    """Alpha from a units x values matrix of how many coders gave each value to each unit. `weights` says how
    many units had each row (the leaderboard groups 100k outputs into a few hundred distinct rows): the
    coincidence matrix is a sum over units, so a row counted w times adds w times. Units with fewer than two
    values are not pairable."""
    pairable = counts.sum(axis=1)
    keep = pairable >= 2
    units = np.ones(len(counts)) if weights is None else np.asarray(weights, dtype=float)
    counts, pairable, units = counts[keep], pairable[keep], units[keep]
    if counts.shape[0] == 0:
        return None
    # Each unit adds, for every ordered pair of its values from different coders, 1 / (m_u - 1).
    weighted = counts * (units / (pairable - 1))[:, None]
    coincidence = weighted.T @ counts - np.diag(weighted.sum(axis=0))
    marginals = coincidence.sum(axis=1)
    total = marginals.sum()
    if total <= 1 or np.count_nonzero(marginals) < 2:
        return None
    delta = _distances(values, marginals, metric)
    observed = (coincidence * delta).sum()
    expected = (np.outer(marginals, marginals) * delta).sum() / (total - 1)
    if expected == 0:
        return None
    return float(1.0 - observed / expected)


def _distances(
    values: NDArray[np.float64], marginals: NDArray[np.float64], metric: Metric
) -> NDArray[np.float64]:
    n = len(values)
    if metric == "nominal":
        return 1.0 - np.eye(n)
    if metric == "interval":
        return (values[:, None] - values[None, :]) ** 2
    # Ordinal: the distance between ranks c < k sums the marginals from c to k, minus half of both ends.
    delta = np.zeros((n, n))
    for c in range(n):
        for k in range(c + 1, n):
            d = marginals[c : k + 1].sum() - (marginals[c] + marginals[k]) / 2
            delta[c, k] = delta[k, c] = d**2
    return delta


def cohen_kappa(pairs: Sequence[tuple[Hashable, Hashable]]) -> float | None:
    """Cohen's kappa for two raters' nominal labels on the same units; None when it is undefined.

    Undefined means no pairs, or chance agreement of 1: both raters gave every unit one and the same label,
    so kappa is 0/0 (perfect agreement that says nothing beyond chance).
    """
    n = len(pairs)
    if n == 0:
        return None
    agreed = sum(1 for first, second in pairs if first == second)
    firsts = Counter(first for first, _ in pairs)
    seconds = Counter(second for _, second in pairs)
    # Integer numerators over n^2, so chance agreement of exactly 1 is detected without rounding.
    chance = sum(count * seconds[label] for label, count in firsts.items())
    if chance == n * n:
        return None
    return (agreed * n - chance) / (n * n - chance)
