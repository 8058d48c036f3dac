"""Paired A-vs-B comparison and Cohen's kappa against hand-computed answers."""

from __future__ import annotations

import inspect
import math

import numpy as np
import pytest

from app.stats import paired
from app.stats.agreement import cohen_kappa
from app.stats.bradley_terry import BOOTSTRAP_RESAMPLES
from app.stats.intervals import mean_interval
from app.stats.paired import (
    PairedResult,
    bootstrap_mean_interval,
    compare_outcomes,
    compare_paired,
    sign_test,
)


@pytest.mark.parametrize(
    ("wins", "losses", "expected"),
    [
        (8, 2, 2 * (1 + 10 + 45) / 1024),  # 0.109375
        (2, 8, 2 * (1 + 10 + 45) / 1024),  # symmetric
        (10, 0, 2 / 1024),
        (3, 0, 2 / 8),
        (2, 1, 1.0),  # 2 * P(X <= 1 | n=3) = 2 * 4/8
        (5, 5, 1.0),  # 2 * 638/1024 > 1, capped
        (0, 1, 1.0),
    ],
)
def test_sign_test_exact_values(wins: int, losses: int, expected: float) -> None:
    assert sign_test(wins, losses) == pytest.approx(expected, rel=1e-12)


def test_sign_test_edges() -> None:
    assert sign_test(0, 0) is None
    with pytest.raises(ValueError):
        sign_test(-1, 3)


def test_bootstrap_two_items_has_the_hand_computed_interval() -> None:
    # Resample means of [0, 1] are 0, 0.5, 1 with chances 1/4, 1/2, 1/4: the 2.5th and 97.5th percentiles
    # of 1,000 resamples are 0 and 1 (fewer than 25 draws of either end would take ~250 to fail).
    assert bootstrap_mean_interval([0.0, 1.0]) == (0.5, 0.0, 1.0)


def test_bootstrap_is_deterministic_with_a_seed_and_brackets_the_mean() -> None:
    differences = [0.5, -1.0, 2.0, 0.0, 1.5, 0.25, -0.5, 3.0]
    first = bootstrap_mean_interval(differences, seed=7)
    assert first is not None
    assert first == bootstrap_mean_interval(differences, seed=7)
    assert first != bootstrap_mean_interval(differences, seed=8)
    mean, lower, upper = first
    assert mean == pytest.approx(5.75 / 8)
    assert min(differences) <= lower < mean < upper <= max(differences)


def test_bootstrap_matches_the_t_interval_on_many_items() -> None:
    # For a mean of many items the percentile bootstrap is close to mean +- 1.96 s/sqrt(n).
    differences = [math.sin(i * 1.7) + (i % 5) / 4 for i in range(400)]
    result = bootstrap_mean_interval(differences, resamples=4000, seed=1)
    t = mean_interval(differences)
    assert result is not None and t is not None
    half = (t.upper - t.lower) / 2
    assert result[0] == pytest.approx(t.mean, abs=1e-12)
    assert result[1] == pytest.approx(t.lower, abs=0.1 * half)
    assert result[2] == pytest.approx(t.upper, abs=0.1 * half)


def test_bootstrap_in_blocks_gives_the_same_kind_of_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(paired, "_BLOCK_CELLS", 10)  # 5 resamples per block of 2 items
    assert bootstrap_mean_interval([0.0, 1.0]) == (0.5, 0.0, 1.0)


def test_bootstrap_degenerate_and_empty_inputs() -> None:
    assert bootstrap_mean_interval([0.1, 0.1, 0.1]) == (0.1, 0.1, 0.1)  # no rounding drift
    assert bootstrap_mean_interval([]) is None
    assert bootstrap_mean_interval([2.5]) is None  # one item: no interval (see the docstring)


def test_bootstrap_rejects_too_few_resamples_and_bad_input() -> None:
    assert inspect.signature(bootstrap_mean_interval).parameters["resamples"].default == BOOTSTRAP_RESAMPLES
    bootstrap_mean_interval([0.0, 1.0], resamples=1000)
    with pytest.raises(ValueError, match="at least 1000"):
        bootstrap_mean_interval([0.0, 1.0], resamples=999)
    with pytest.raises(ValueError, match="at least 1000"):
        bootstrap_mean_interval([], resamples=200)  # checked even when there is nothing to resample
    with pytest.raises(ValueError):
        bootstrap_mean_interval([0.0, 1.0], confidence=1.0)
    with pytest.raises(ValueError):
        bootstrap_mean_interval([0.0, float("nan")])


def test_compare_paired_drops_missing_scores_and_counts_ties() -> None:
    a = [3.0, None, 2.0, 5.0, 4.0, 1.0, 2.0]
    b = [1.0, 2.0, 2.0, None, 5.0, 1.0 + 1e-12, 0.0]
    result = compare_paired(a, b)
    # Kept: 3-1 win, 2-2 tie, 4-5 loss, 1-(1+1e-12) tie within tolerance, 2-0 win.
    assert (result.wins, result.ties, result.losses, result.n) == (2, 2, 1, 5)
    assert result.mean_difference == pytest.approx(3.0 / 5)
    assert result.p_value == pytest.approx(1.0)  # 2 * P(X <= 1 | n=3)
    assert result.lower is not None and result.upper is not None
    assert -1.0 <= result.lower < 3.0 / 5 < result.upper <= 2.0
    assert result == compare_paired(a, b)  # seeded


def test_compare_paired_tolerance_decides_ties() -> None:
    result = compare_paired([1.0, 2.0, 3.0], [1.4, 1.0, 3.6], tolerance=0.5)
    assert (result.wins, result.ties, result.losses) == (1, 1, 1)
    at_the_edge = compare_paired([1.5, 1.0], [1.0, 1.5], tolerance=0.5)  # |a - b| == tolerance is a tie
    assert (at_the_edge.wins, at_the_edge.ties, at_the_edge.losses) == (0, 2, 0)


def test_compare_paired_signs_and_p_value() -> None:
    a = [1.0] * 8 + [0.0] * 2 + [0.5] * 3
    b = [0.0] * 8 + [1.0] * 2 + [0.5] * 3
    result = compare_paired(a, b)
    assert (result.wins, result.ties, result.losses, result.n) == (8, 3, 2, 13)
    assert result.p_value == pytest.approx(0.109375)
    assert result.mean_difference == pytest.approx(6 / 13)


def test_compare_paired_small_and_bad_inputs() -> None:
    assert compare_paired([], []) == PairedResult(0, 0, 0, None, None, None, None, 0)
    assert compare_paired([None, 1.0], [2.0, None]) == PairedResult(0, 0, 0, None, None, None, None, 0)
    assert compare_paired([4.0], [1.5]) == PairedResult(1, 0, 0, 2.5, None, None, 1.0, 1)
    assert compare_paired([2.0, 2.0], [2.0, 2.0]) == PairedResult(0, 2, 0, 0.0, 0.0, 0.0, None, 2)
    with pytest.raises(ValueError):
        compare_paired([1.0, 2.0], [1.0])
    with pytest.raises(ValueError):
        compare_paired([float("inf")], [1.0])
    with pytest.raises(ValueError, match="at least 1000"):
        compare_paired([1.0, 2.0], [0.0, 0.0], resamples=100)


def test_compare_outcomes_preferences() -> None:
    outcomes = [1] * 8 + [-1] * 2 + [0] * 2
    result = compare_outcomes(outcomes)
    assert (result.wins, result.ties, result.losses, result.n) == (8, 2, 2, 12)
    assert result.mean_difference == pytest.approx(0.5)  # (8 - 2) / 12
    assert result.p_value == pytest.approx(0.109375)
    assert result.lower is not None and result.upper is not None
    assert -1.0 <= result.lower < 0.5 < result.upper <= 1.0


def test_compare_outcomes_edges() -> None:
    assert compare_outcomes([1] * 10) == PairedResult(10, 0, 0, 1.0, 1.0, 1.0, 2 / 1024, 10)
    assert compare_outcomes([]) == PairedResult(0, 0, 0, None, None, None, None, 0)
    assert compare_outcomes([0, 0]) == PairedResult(0, 2, 0, 0.0, 0.0, 0.0, None, 2)
    with pytest.raises(ValueError):
        compare_outcomes([1, 2])
    with pytest.raises(ValueError, match="at least 1000"):
        compare_outcomes([1, -1], resamples=10)


def test_results_never_hold_nan() -> None:
    for result in (compare_paired([1.0], [0.0]), compare_outcomes([]), compare_outcomes([1, -1, 0])):
        for value in (result.mean_difference, result.lower, result.upper, result.p_value):
            assert value is None or not np.isnan(value)


def test_cohen_kappa_classic_two_by_two() -> None:
    # 20 yes/yes, 5 yes/no, 10 no/yes, 15 no/no: po = 35/50 = 0.7, pe = (25*30 + 25*20)/50^2 = 0.5.
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10 + [("no", "no")] * 15
    assert cohen_kappa(pairs) == pytest.approx(0.4, abs=1e-12)


def test_cohen_kappa_three_labels() -> None:
    # Rows rater 1, columns rater 2 over (A better, tie, B better):
    #   A   [10, 2, 1]     po = 21/30, rows 13/10/7, columns 13/8/9
    #   tie [ 3, 5, 2]     pe = (13*13 + 10*8 + 7*9)/900 = 312/900
    #   B   [ 0, 1, 6]     kappa = (630 - 312)/(900 - 312) = 53/98
    table = {
        "A": {"A": 10, "tie": 2, "B": 1},
        "tie": {"A": 3, "tie": 5, "B": 2},
        "B": {"A": 0, "tie": 1, "B": 6},
    }
    pairs = [
        (first, second) for first, row in table.items() for second, count in row.items() for _ in range(count)
    ]
    assert cohen_kappa(pairs) == pytest.approx(53 / 98, abs=1e-12)
    assert cohen_kappa([(second, first) for first, second in pairs]) == pytest.approx(53 / 98, abs=1e-12)


def test_cohen_kappa_edges() -> None:
    assert cohen_kappa([]) is None
    assert cohen_kappa([("A", "A")] * 4) is None  # chance agreement 1: 0/0
    assert cohen_kappa([(1, 1), (0, 0), (1, 1)]) == pytest.approx(1.0)
    assert cohen_kappa([("A", "B"), ("B", "A")]) == pytest.approx(-1.0)  # po 0, pe 1/2
    assert cohen_kappa([("A", "A"), ("A", "B")]) == pytest.approx(0.0)  # po 1/2, pe 1/2
