"""Bradley-Terry intervals resample items: all rankings of one item are drawn together."""

from __future__ import annotations

import math

import numpy as np
import pytest

from app.stats.bradley_terry import analyse, analyse_patterns, fit, pairwise_wins
from app.verdict import analysis
from app.verdict.evidence import Evidence, HumanRanking, OutputEvidence, VariantInfo

A_B_C, A_C_B, B_A_C, B_C_A, C_A_B, C_B_A = [1, 2, 3], [1, 3, 2], [2, 1, 3], [3, 1, 2], [2, 3, 1], [3, 2, 1]
AB_C, A_BC = [1, 1, 2], [1, 2, 2]

# Item 0: twelve raters all say A > B > C. Items 1-9: one rating each, split every way (items 2 and 9 alike).
CLUSTERED = [A_B_C] * 12 + [A_C_B, B_A_C, B_C_A, C_A_B, C_B_A, A_B_C, AB_C, A_BC, B_A_C]
CLUSTERS = [0] * 12 + list(range(1, 10))


def reference_bootstrap(
    rankings: list[list[int]], clusters: list[int], k: int, resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One resample at a time: draw N items with replacement, add up their rankings' wins, refit."""
    items = list(dict.fromkeys(clusters))  # in the order they first appear, as the module numbers them
    wins = [
        sum((pairwise_wins(r) for r, c in zip(rankings, clusters, strict=True) if c == i), np.zeros((k, k)))
        for i in items
    ]
    rng = np.random.default_rng(seed)
    fits = []
    for _ in range(resamples):
        drawn = rng.integers(0, len(items), size=len(items))
        fits.append(fit(sum((wins[i] for i in drawn), np.zeros((k, k)))))
    boot = np.array(fits)
    lower, upper = np.percentile(boot, [2.5, 97.5], axis=0)
    return lower, upper, np.bincount(boot.argmax(axis=1), minlength=k) / resamples


def test_item_bootstrap_matches_a_resample_by_resample_reference() -> None:
    # 10 items in 9 patterns: too many patterns for a multinomial to pay, so the module draws items one by one
    # too, and the same seed draws the same items.
    result = analyse(CLUSTERED, 3, clusters=CLUSTERS, seed=7)
    lower, upper, best = reference_bootstrap(CLUSTERED, CLUSTERS, 3, 1000, seed=7)
    assert result.lower == pytest.approx(lower, abs=1e-6)
    assert result.upper == pytest.approx(upper, abs=1e-6)
    assert result.p_best == pytest.approx(best, abs=1e-9)
    # The point estimate is the fit of every rating, whatever the items.
    pooled = sum((pairwise_wins(r) for r in CLUSTERED), np.zeros((3, 3)))
    assert result.strengths == pytest.approx(fit(pooled), abs=1e-9)


def test_twelve_agreeing_raters_of_one_item_do_not_count_as_twelve_items() -> None:
    by_item = analyse(CLUSTERED, 3, clusters=CLUSTERS, seed=7)
    by_rating = analyse(CLUSTERED, 3, seed=7)
    assert by_item.strengths == pytest.approx(by_rating.strengths)
    # Strengths 1.06, 0.08, -1.15. Intervals by item: A [-0.20, 2.26], B [-0.40, 0.69], C [-2.40, 0.07]; by
    # rating: A [0.47, 2.03], B [-0.34, 0.53], C [-2.19, -0.60]. Counted rating by rating, A is surely above
    # the mean and C surely below; counted by item, one unanimous item is too little to say so.
    assert np.all(by_item.upper - by_item.lower > by_rating.upper - by_rating.lower)
    assert by_rating.lower[0] > 0 > by_item.lower[0]
    assert by_rating.upper[2] < 0 < by_item.upper[2]


def test_one_rating_per_item_is_the_rating_bootstrap() -> None:
    # 45 items in 3 patterns: every way draws the same multinomial, so even the intervals are as before.
    rankings = [A_B_C] * 30 + [B_A_C] * 10 + [AB_C] * 5
    old = analyse(rankings, 3, resamples=300, seed=1)
    new = analyse(rankings, 3, clusters=[f"item {i}" for i in range(45)], resamples=300, seed=1)
    counted = analyse_patterns({tuple(A_B_C): 30, tuple(B_A_C): 10, tuple(AB_C): 5}, 3, resamples=300, seed=1)
    for result in (new, counted):
        assert result.strengths == pytest.approx(old.strengths, abs=1e-12)
        assert result.lower == pytest.approx(old.lower, abs=1e-12)
        assert result.upper == pytest.approx(old.upper, abs=1e-12)
        assert result.p_best == pytest.approx(old.p_best, abs=1e-12)
        assert result.win_rate[0, 1] == pytest.approx(32.5 / 45)


def test_an_items_rankings_travel_together() -> None:
    # Item 0: ten identical rankings A > B. Items 1-3: one ranking B > A each. A resample of 4 items puts A
    # ahead exactly when item 0 is drawn at least once (10m > 4 - m for m >= 1): 1 - (3/4)^4 = 0.684. Resampling
    # the 13 ratings instead, A is ahead when it wins 7 or more of them: 0.97.
    rankings = [[1, 2]] * 10 + [[2, 1]] * 3
    by_item = analyse(rankings, 2, clusters=[0] * 10 + [1, 2, 3], resamples=4000, seed=3)
    by_rating = analyse(rankings, 2, resamples=4000, seed=3)
    items_expected = 1 - (3 / 4) ** 4
    ratings_expected = sum(math.comb(13, x) * (10 / 13) ** x * (3 / 13) ** (13 - x) for x in range(7, 14))
    # Binomial standard error at 4,000 resamples: about 0.007.
    assert by_item.p_best[0] == pytest.approx(items_expected, abs=0.03)
    assert by_rating.p_best[0] == pytest.approx(ratings_expected, abs=0.03)


def test_many_items_in_few_patterns_are_drawn_as_items_too() -> None:
    # Item 0: ten rankings A > B; items 1-30: one ranking B > A each, all alike, so the module draws a
    # multinomial over the two patterns. A is ahead when item 0 is drawn m >= 3 times (10m > 31 - m), m being
    # Binomial(31, 1/31): 0.077. Rating by rating A would need 21 of 40 wins at a 1 in 4 chance: about 0.
    rankings = [[1, 2]] * 10 + [[2, 1]] * 30
    by_item = analyse(rankings, 2, clusters=[0] * 10 + list(range(1, 31)), resamples=4000, seed=4)
    below_three = sum(math.comb(31, m) * (1 / 31) ** m * (30 / 31) ** (31 - m) for m in range(3))
    assert by_item.p_best[0] == pytest.approx(1 - below_three, abs=0.015)  # standard error 0.004
    assert analyse(rankings, 2, resamples=4000, seed=4).p_best[0] < 0.005


def test_a_missing_item_takes_all_its_ratings_with_it() -> None:
    # Item 0: ten rankings A > B; items 1-10: one ranking B > A each. Item 0 is left out of (10/11)^11 = 35% of
    # resamples, all ten ratings at once, so A's 2.5th percentile is exactly the fit of eleven B > A games.
    rankings = [[1, 2]] * 10 + [[2, 1]] * 10
    by_item = analyse(rankings, 2, clusters=[0] * 10 + list(range(1, 11)), seed=5)
    without_item_0 = fit(np.array([[0.0, 0.0], [11.0, 0.0]]))
    assert by_item.lower[0] == pytest.approx(without_item_0[0], abs=1e-6)
    # Drawn rating by rating, losing all ten A > B together is about as likely as 20 heads in a row.
    assert analyse(rankings, 2, seed=5).lower[0] > without_item_0[0] + 1


def test_only_the_order_items_first_appear_in_matters() -> None:
    first = analyse(CLUSTERED, 3, clusters=CLUSTERS, seed=7)
    # Item 0's rankings spread among the others, items still first seen in the order 0, 1, ..., 9.
    order = [0, 12, 1, 13, 14, 2, *range(3, 12), *range(15, 21)]
    spread = analyse([CLUSTERED[i] for i in order], 3, clusters=[CLUSTERS[i] for i in order], seed=7)
    for got, want in (
        (spread.lower, first.lower),
        (spread.upper, first.upper),
        (spread.p_best, first.p_best),
    ):
        assert np.array_equal(got, want)
    # The seeded draw follows the items' order: reversed, the figures move a little, the estimate not at all.
    backwards = analyse(CLUSTERED[::-1], 3, clusters=CLUSTERS[::-1], seed=7)
    assert backwards.strengths == pytest.approx(first.strengths)


def test_clusters_must_match_the_rankings() -> None:
    with pytest.raises(ValueError, match="one cluster per ranking"):
        analyse([A_B_C, B_A_C], 3, clusters=[0])
    with pytest.raises(ValueError, match="must rank 3"):
        analyse([[1, 2]], 3, clusters=[0])


def test_no_rankings_no_interval() -> None:
    result = analyse([], 3, clusters=[])
    assert result.strengths == pytest.approx(np.zeros(3))
    assert result.p_best == pytest.approx(np.full(3, 1 / 3))


def _verdict_evidence(rankings: list[HumanRanking], samples: dict[int, int]) -> Evidence:
    variants = [VariantInfo(1, 101, "A", "few_shot", False), VariantInfo(2, 102, "B", "rag", False)]
    outputs = [
        OutputEvidence(
            output_id=100 * item + 10 * sample + version,
            comparison_id=10 * item + sample,
            item_id=item,
            sample=sample,
            version_id=version,
            ok=True,
            error=None,
            probe=False,
            latency_ms=None,
            ttft_ms=None,
            wait_ms=None,
            cost_usd=None,
            cached=False,
        )
        for item, count in samples.items()
        for sample in range(count)
        for version in (1, 2)
    ]
    return Evidence(
        experiment_id=1,
        variants=variants,
        outputs=outputs,
        rankings=rankings,
        judge=[],
        has_judge=False,
        repeats=max(samples.values()),
        queries={item: f"question {item}" for item in samples},
        comparisons={(o.item_id, o.sample): o.comparison_id for o in outputs},
    )


def test_the_verdict_resamples_dataset_items_with_all_their_samples_and_raters() -> None:
    # Item 1: three samples (comparisons 10, 11, 12), the first rated twice, all A > B. Items 2-4: one sample,
    # one rating B > A. The verdict's item is the dataset item: five rankings, four items.
    a_first, b_first = {1: 1, 2: 2}, {1: 2, 2: 1}
    rankings = [
        HumanRanking(10, "ann", a_first),
        HumanRanking(20, "ann", b_first),
        HumanRanking(11, "ann", a_first),
        HumanRanking(30, "bob", b_first),
        HumanRanking(10, "bob", a_first),
        HumanRanking(12, "cy", a_first),
        HumanRanking(40, "cy", b_first),
    ]
    verdict = analysis.analyse(_verdict_evidence(rankings, {1: 3, 2: 1, 3: 1, 4: 1}), seed=2)
    expected = analyse([[1, 2]] * 4 + [[2, 1]] * 3, 2, clusters=[1, 1, 1, 1, 2, 3, 4], seed=2)
    by_rating = analyse([[1, 2]] * 4 + [[2, 1]] * 3, 2, seed=2)
    a = verdict.variants[0].strength
    assert a is not None and a.ratings == 7
    assert a.strength == pytest.approx(expected.strengths[0])
    assert (a.lower, a.upper, a.p_best) == pytest.approx(
        (expected.lower[0], expected.upper[0], expected.p_best[0])
    )
    assert a.upper - a.lower > by_rating.upper[0] - by_rating.lower[0]
    # The rankings' order does not matter: items are put in order before the seeded draw.
    again = analysis.analyse(_verdict_evidence(rankings[::-1], {1: 3, 2: 1, 3: 1, 4: 1}), seed=2)
    assert again.variants[0].strength == a


def test_the_normal_limit_for_many_items_matches_drawing_them() -> None:
    """Past EXACT_DRAWS, resampled win totals come from their normal limit: with 3,000 items of 1-4 rankings
    each, the interval bounds and P(best) agree with drawing the items one by one."""
    rng = np.random.default_rng(7)
    strength = np.array([0.6, 0.2, 0.0, -0.4])
    rankings: list[tuple[int, ...]] = []
    clusters: list[int] = []
    for item in range(3000):
        shared = rng.normal(0, 0.6, size=4)
        for _ in range(int(rng.integers(1, 5))):
            order = np.argsort(-(strength + shared + rng.gumbel(size=4)))
            ranks = [0] * 4
            for position, competitor in enumerate(order):
                ranks[competitor] = position + 1
            rankings.append(tuple(ranks))
            clusters.append(item)
    exact = analyse(rankings, 4, clusters=clusters, exact_draws=10**12)
    limit = analyse(rankings, 4, clusters=clusters, exact_draws=0)
    assert np.allclose(limit.strengths, exact.strengths)
    assert np.abs(limit.lower - exact.lower).max() < 0.01 and np.abs(limit.upper - exact.upper).max() < 0.01
    assert np.abs(limit.p_best - exact.p_best).max() < 0.03
    assert (limit.upper - limit.lower).min() > 0
