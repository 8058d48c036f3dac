"""Rating statistics against known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.stats.agreement import krippendorff_alpha
from app.stats.bradley_terry import analyse, fit, pairwise_wins
from app.stats.intervals import mean_interval

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", the 4 observers x 12 units example.
KRIPPENDORFF = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


@pytest.mark.parametrize(
    ("metric", "expected"), [("nominal", 0.743), ("ordinal", 0.815), ("interval", 0.849)]
)
def test_krippendorff_textbook_example(metric: str, expected: float) -> None:
    assert krippendorff_alpha(KRIPPENDORFF, metric) == pytest.approx(expected, abs=0.001)  # type: ignore[arg-type]


def test_krippendorff_edges() -> None:
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 3]], "ordinal") == pytest.approx(1.0)
    assert krippendorff_alpha([[3, 3], [3, 3]]) is None  # one value only: agreement is undefined
    assert krippendorff_alpha([[1, None], [None, 2]]) is None  # nothing pairable


def test_pairwise_wins_with_ties_and_gaps() -> None:
    wins = pairwise_wins([1, 2, 2, None])
    assert wins[0, 1] == 1 and wins[1, 0] == 0
    assert wins[1, 2] == wins[2, 1] == 0.5
    assert wins[:, 3].sum() == wins[3, :].sum() == 0


def test_bradley_terry_hand_computable_case() -> None:
    # Two items, A beats B 3 times out of 4: the MLE has p_A / p_B = 3, so the log-strength gap is ln 3.
    wins = np.array([[0.0, 3.0], [1.0, 0.0]])
    strengths = fit(wins, prior=0.0)
    assert strengths[0] - strengths[1] == pytest.approx(math.log(3), abs=1e-6)
    assert strengths.sum() == pytest.approx(0.0, abs=1e-9)


def test_bradley_terry_three_items_satisfies_the_likelihood_equations() -> None:
    wins = np.array([[0, 7, 9], [3, 0, 6], [1, 4, 0]], dtype=float)
    p = np.exp(fit(wins, prior=0.0))
    games = wins + wins.T
    for i in range(3):  # at the MLE, expected wins equal observed wins for every item
        expected = sum(games[i, j] * p[i] / (p[i] + p[j]) for j in range(3) if j != i)
        assert expected == pytest.approx(wins[i].sum(), rel=1e-6)


def test_analyse_rankings_intervals_and_p_best() -> None:
    rankings = [[1, 2, 3]] * 30 + [[2, 1, 3]] * 10 + [[1, 1, 2]] * 5
    result = analyse(rankings, 3, resamples=300, seed=1)
    assert result.strengths[0] > result.strengths[1] > result.strengths[2]
    assert all(result.lower <= result.strengths + 1e-9) and all(result.strengths <= result.upper + 1e-9)
    assert result.p_best.sum() == pytest.approx(1.0)
    assert result.p_best[0] > 0.9
    # A won 30 + 2.5 of the 45 games against B (ties count half)
    assert result.win_rate[0, 1] == pytest.approx(32.5 / 45)
    assert result.games[0, 1] == 45


def test_mean_interval() -> None:
    interval = mean_interval([4, 5, 3, 4, 4])
    assert interval is not None
    assert interval.mean == 4 and interval.n == 5
    # t(0.975, 4) = 2.776, sd = 0.7071, se = 0.3162: half-width 0.878
    assert interval.upper - interval.mean == pytest.approx(0.878, abs=0.001)
    assert mean_interval([]) is None
    single = mean_interval([3])
    assert single is not None and math.isinf(single.upper)
    clipped = mean_interval([1, 5], bounds=(1, 5))
    assert clipped is not None and (clipped.lower, clipped.upper) == (1, 5)
    one = mean_interval([2], bounds=(1, 5))
    assert one is not None and (one.lower, one.upper) == (1, 5)  # one rating: anything on the scale


def test_default_bootstrap_bounds_barely_move_between_seeds() -> None:
    """Figures must mean what they say: at the default resample count the interval bounds of a small board
    (about 150 four-way rankings) move less than 0.05 across ten seeds (with 200 resamples: about 0.08)."""
    import itertools

    from app.stats.bradley_terry import analyse_patterns

    rng = np.random.default_rng(3)
    patterns = {p: int(rng.integers(1, 12)) for p in itertools.permutations(range(1, 5))}
    lower = np.array([analyse_patterns(patterns, 4, seed=seed).lower for seed in range(10)])
    upper = np.array([analyse_patterns(patterns, 4, seed=seed).upper for seed in range(10)])
    assert float((lower.max(0) - lower.min(0)).max()) < 0.05
    assert float((upper.max(0) - upper.min(0)).max()) < 0.05
