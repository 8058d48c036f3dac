"""Precision@k and MRR from relevance marks: pure functions against hand-computed answers."""

from __future__ import annotations

import pytest

from app.leaderboard.service import majority, precision_and_mrr


def test_precision_and_mrr_by_hand() -> None:
    judged = {
        1: {1: True, 2: False, 3: True},  # P@3 = 2/3, RR = 1
        2: {1: False, 2: True},  # P@3 = 1/3 (rank 3 unjudged counts as not relevant), RR = 1/2
        3: {1: False, 2: False, 3: False},  # P@3 = 0, RR = 0
    }
    precision, mrr = precision_and_mrr(judged, k=3)
    assert precision == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    assert mrr == pytest.approx((1 + 0.5 + 0) / 3)
    assert precision_and_mrr({}, k=3) == (0.0, 0.0)


def test_majority_vote_counts_ties_as_relevant() -> None:
    assert majority([True, False]) is True
    assert majority([True, False, False]) is False
    assert majority([True]) is True
