"""Maximal marginal relevance: pick results that are relevant and not near-duplicates of each other."""

from __future__ import annotations

from collections.abc import Sequence


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def mmr_select(
    query: Sequence[float], candidates: Sequence[Sequence[float]], k: int, lambda_: float = 0.5
) -> list[int]:
    """Indices of k candidates chosen greedily by lambda*sim(query) - (1-lambda)*max sim(chosen).

    Vectors are assumed normalised, so the dot product is the cosine similarity.
    """
    if not 0.0 <= lambda_ <= 1.0:
        raise ValueError("lambda_ must be between 0 and 1")
    relevance = [_dot(query, c) for c in candidates]
    chosen: list[int] = []
    remaining = list(range(len(candidates)))
    while remaining and len(chosen) < k:

        def score(i: int) -> float:
            redundancy = max((_dot(candidates[i], candidates[j]) for j in chosen), default=0.0)
            return lambda_ * relevance[i] - (1 - lambda_) * redundancy

        best = max(remaining, key=score)
        chosen.append(best)
        remaining.remove(best)
    return chosen
