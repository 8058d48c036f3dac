"""Krippendorff's alpha (nominal, ordinal, interval) for raters x units data with gaps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

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
    n_values = len(values)
    coincidence = np.zeros((n_values, n_values))
    n_units = max(len(row) for row in data)
    for unit in range(n_units):
        present = [row[unit] for row in data if unit < len(row) and row[unit] is not None]
        m = len(present)
        if m < 2:
            continue
        for a_pos, a in enumerate(present):
            for b_pos, b in enumerate(present):
                if a_pos != b_pos:
                    coincidence[index[a], index[b]] += 1.0 / (m - 1)  # type: ignore[index]
    marginals = coincidence.sum(axis=1)
    total = marginals.sum()
    if total <= 1:
        return None
    delta = _distances(np.array(values, dtype=float), marginals, metric)
    observed = (coincidence * delta).sum()
    expected = (np.outer(marginals, marginals) * delta).sum() / (total - 1)
    if expected == 0:
        return None
    return float(1.0 - observed / expected)


def _distances(values: np.ndarray, marginals: np.ndarray, metric: Metric) -> np.ndarray:
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
