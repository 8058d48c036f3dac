from __future__ import annotations

import math

import pytest

from app.retrieval.mmr import mmr_select


def unit(*v: float) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def test_mmr_skips_a_near_duplicate() -> None:
    query = unit(1, 0.2, 0)
    candidates = [unit(1, 0.1, 0), unit(1, 0.11, 0), unit(0.6, 0, 0.8)]
    # pure relevance keeps the near-duplicate pair; with diversity the other topic replaces one of them
    assert sorted(mmr_select(query, candidates, 2, lambda_=1.0)) == [0, 1]
    assert sorted(mmr_select(query, candidates, 2, lambda_=0.3)) in ([0, 2], [1, 2])


def test_mmr_edges() -> None:
    assert mmr_select(unit(1, 0), [], 3) == []
    assert mmr_select(unit(1, 0), [unit(1, 0)], 3) == [0]
    with pytest.raises(ValueError):
        mmr_select(unit(1, 0), [unit(1, 0)], 1, lambda_=2)
