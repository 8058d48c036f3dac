"""The verdict's statistics on constructed evidence, against hand-computed answers."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from app.evaluation.metrics import METRIC_NAMES
from app.stats import bradley_terry
from app.verdict.analysis import analyse, compare
from app.verdict.evidence import (
    Evidence,
    Flip,
    HumanRanking,
    JudgeEvidence,
    OutputEvidence,
    ProbeResult,
    VariantInfo,
)

FEW = VariantInfo(1, 101, "Few-shot", "few_shot", False)
RAG = VariantInfo(2, 102, "RAG", "rag", False)
FT = VariantInfo(3, 103, "Fine-tuned", "fine_tuned", True)
_ids = itertools.count(1)


def comp(item: int, sample: int = 0) -> int:
    """The comparison id these tests give an item's sample."""
    return 1000 + item * 10 + sample


def out(
    version: VariantInfo,
    item: int,
    sample: int = 0,
    metrics: Mapping[str, float | tuple[float | None, str] | None] | None = None,
    *,
    ok: bool = True,
    probe: bool = False,
    latency: float | None = None,
    ttft: float | None = None,
    wait: float | None = None,
    cost: float | None = None,
    cached: bool = False,
    human: Sequence[float] = (),
) -> OutputEvidence:
    stored: dict[str, tuple[float | None, str]] = {}
    for name, value in (metrics or {}).items():
        stored[name] = (
            value if isinstance(value, tuple) else (value, "" if value is not None else "no reason")
        )
    return OutputEvidence(
        output_id=next(_ids),
        comparison_id=comp(item, sample),
        item_id=item,
        sample=sample,
        version_id=version.version_id,
        ok=ok,
        error=None if ok else "boom",
        probe=probe,
        latency_ms=latency,
        ttft_ms=ttft,
        wait_ms=wait,
        cost_usd=cost,
        cached=cached,
        metrics=stored,
        human_scores=tuple(human),
    )


def evidence(
    variants: Sequence[VariantInfo],
    outputs: Sequence[OutputEvidence],
    rankings: Sequence[HumanRanking] = (),
    judge: Sequence[JudgeEvidence] = (),
    *,
    has_judge: bool = False,
    repeats: int = 1,
) -> Evidence:
    return Evidence(
        experiment_id=7,
        variants=variants,
        outputs=outputs,
        rankings=rankings,
        judge=judge,
        has_judge=has_judge,
        repeats=repeats,
        queries={o.item_id: f"question {o.item_id}" for o in outputs},
        comparisons={(o.item_id, o.sample): o.comparison_id for o in outputs},
    )


def verdict_of(ev: Evidence, version: VariantInfo) -> Any:
    return next(v for v in analyse(ev).variants if v.variant == version)


def judged(
    item: int, a: VariantInfo, b: VariantInfo, outcome: int, sample: int = 0, **kw: bool
) -> JudgeEvidence:
    return JudgeEvidence(
        comp(item, sample),
        a.version_id,
        b.version_id,
        outcome,
        kw.get("consistent", True),
        kw.get("error", False),
    )


def floats(value: Any) -> list[float]:
    """Every float anywhere inside a verdict (to prove none is NaN)."""
    if isinstance(value, float):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [f for field in dataclasses.fields(value) for f in floats(getattr(value, field.name))]
    if isinstance(value, Mapping):
        return [f for v in value.values() for f in floats(v)]
    if isinstance(value, (list, tuple)):
        return [f for v in value for f in floats(v)]
    return []


def test_metrics_average_each_item_over_its_samples_with_spread_and_missing() -> None:
    outputs = [
        out(FEW, 1, 0, {"key_facts": 0.0}),
        out(FEW, 1, 1, {"key_facts": 1.0}),
        out(FEW, 2, 0, {"key_facts": 1.0}),
        out(FEW, 2, 1, {"key_facts": 0.0}, ok=False),  # failed: missing, whatever its stored value
        out(FEW, 3, 0, {"key_facts": 0.0}, probe=True),  # probes are not the task
        out(FEW, 3, 1, {"key_facts": 0.0}, probe=True),
    ]
    estimate = verdict_of(evidence([FEW], outputs, repeats=2), FEW).metrics["key_facts"]
    # Items: (0 + 1) / 2 = 0.5 and 1.0 -> 0.75; over outputs it would be 2/3. Two items: the bootstrap
    # bounds are the two values (see test_paired). Spread: std of [0, 1] (ddof 1); item 2 has one value.
    assert (estimate.mean, estimate.lower, estimate.upper, estimate.n) == (0.75, 0.5, 1.0, 2)
    assert (estimate.missing, estimate.missing_reason) == (1, "the output failed")
    assert estimate.spread == pytest.approx(math.sqrt(0.5))


def test_missing_values_are_counted_with_their_most_common_reason() -> None:
    outputs = [
        out(FEW, 1, metrics={"similarity": (None, "no reference answer")}),
        out(FEW, 2, metrics={"similarity": (None, "no reference answer")}),
        out(FEW, 3, metrics={"similarity": (None, "something else")}),
        out(FEW, 4, ok=False),
        out(FEW, 5, metrics={"similarity": 0.4}),
    ]
    verdict = verdict_of(evidence([FEW], outputs), FEW)
    similarity = verdict.metrics["similarity"]
    assert similarity == dataclasses.replace(
        similarity, mean=0.4, lower=None, upper=None, n=1, missing=4, missing_reason="no reference answer"
    )
    assert similarity.spread is None  # one sample per item
    # Four answered outputs never scored for format, one failed.
    fmt = verdict.metrics["format"]
    assert (fmt.mean, fmt.n, fmt.missing, fmt.missing_reason) == (None, 0, 5, "not scored yet")
    assert set(verdict.metrics) == set(METRIC_NAMES)


def test_latency_percentiles_and_cost_over_answered_outputs() -> None:
    outputs = [
        out(FEW, 1, latency=100, ttft=10, cost=0.001, cached=True),
        out(FEW, 2, latency=200, ttft=30, cost=0.003),
        out(FEW, 3, latency=300),
        out(FEW, 4, latency=400, probe=True),  # probes count for latency
        out(FEW, 5, latency=None),
        out(FEW, 6, latency=5000, cost=9.0, ok=False),  # failed: not a latency
        out(RAG, 1, latency=50),
    ]
    few, rag = analyse(evidence([FEW, RAG], outputs)).variants
    assert (few.outputs, few.errors, few.cached) == (6, 1, 1)
    assert few.latency_p50 == 250.0
    assert few.latency_p95 == pytest.approx(385.0)  # 300 + 0.85 * (400 - 300)
    assert few.ttft_p50 == 20.0
    assert few.wait_p50 is None
    assert few.cost_per_1k == pytest.approx(2.0)  # mean of the known 0.001 and 0.003, x 1000
    assert rag.cost_per_1k is None
    assert rag.latency_p95 == 50.0


def test_probes_are_kept_out_of_metrics_and_compared_with_the_few_shot_baseline() -> None:
    # Key facts per sample; None is an unscored sample, "x" a failed one.
    probes: dict[VariantInfo, dict[int, list[float | str | None]]] = {
        FEW: {101: [1, 1, 0], 102: [1, 1, 1], 103: [0, 0, 1]},
        FT: {101: [1, 0, None], 102: [1, 1, "x"], 103: [1, 1, 1]},
        RAG: {101: [1, 1, 1], 102: [1, 1, 1], 103: [1, 1, 1]},
    }
    outputs = [out(v, 1, s, {"key_facts": 0.5}) for v in probes for s in range(3)]
    for version, items in probes.items():
        for item, values in items.items():
            for sample, value in enumerate(values):
                failed = value == "x"
                facts = {"key_facts": None if isinstance(value, str) else value}
                outputs.append(out(version, item, sample, facts, ok=not failed, probe=True))
    result = analyse(evidence([FT, RAG, FEW], outputs, repeats=3))  # the baseline is few-shot, not the first
    ft, rag, few = result.variants
    assert few.probes == ProbeResult(3, 2, None, [], [])
    assert ft.probes == ProbeResult(3, 2, "Few-shot", [101], [103])
    assert rag.probes == ProbeResult(3, 3, "Few-shot", [], [103])
    assert few.metrics["key_facts"].n == 1 and few.metrics["key_facts"].mean == 0.5
    assert "Fine-tuned lost 1 of 3 general probes that Few-shot answered." in result.recommendation
    assert not any("RAG lost" in s for s in result.recommendation)


@pytest.mark.parametrize(
    ("variants", "baseline"),
    [
        (
            (
                RAG,
                VariantInfo(4, 104, "Hybrid", "rag_fine_tuned", True),
                VariantInfo(5, 105, "Base", "fine_tuned", False),
            ),
            "Base",
        ),
        ((RAG, VariantInfo(4, 104, "Hybrid", "rag_fine_tuned", True), FT), "RAG"),
    ],
)
def test_without_few_shot_the_baseline_is_the_plain_model_else_the_first(
    variants: Sequence[VariantInfo], baseline: str
) -> None:
    outputs = [out(v, 9, 0, {"key_facts": 1.0}, probe=True) for v in variants]
    result = analyse(evidence(variants, outputs))
    assert [v.probes.baseline if v.probes else "-" for v in result.variants].count(None) == 1
    named = {v.probes.baseline for v in result.variants if v.probes and v.probes.baseline}
    assert named == {baseline}


def test_no_probes_no_probe_result() -> None:
    assert verdict_of(evidence([FEW], [out(FEW, 1, metrics={"key_facts": 1.0})]), FEW).probes is None


def test_bradley_terry_only_with_rankings_and_only_for_ranked_variants() -> None:
    outputs = [out(v, i) for v in (FEW, RAG, FT) for i in (1, 2)]
    plain = analyse(evidence([FEW, RAG, FT], outputs))
    assert [v.strength for v in plain.variants] == [None, None, None]
    assert plain.primary == "similarity"
    rankings = [HumanRanking(comp(1), "ann", {1: 1, 2: 2}) for _ in range(3)] + [
        HumanRanking(comp(2), "bob", {1: 2, 2: 1}),
        HumanRanking(comp(2), "cy", {1: 1}),  # ranks one variant: skipped
        HumanRanking(comp(2), "dee", {1: 1, 99: 2}),  # the other is not in the experiment: skipped
    ]
    few, rag, ft = analyse(evidence([FEW, RAG, FT], outputs, rankings)).variants
    # Item 1's three rankings are resampled together (one item), item 2's one alone.
    expected = bradley_terry.analyse(
        [[1, 2]] * 3 + [[2, 1]], 2, clusters=[1, 1, 1, 2], resamples=1000, seed=0
    )
    assert few.strength is not None and rag.strength is not None
    assert few.strength.strength == pytest.approx(expected.strengths[0])
    assert (few.strength.lower, few.strength.upper) == pytest.approx((expected.lower[0], expected.upper[0]))
    assert rag.strength.p_best == pytest.approx(expected.p_best[1])
    assert few.strength.ratings == rag.strength.ratings == 4
    assert few.strength.strength > 0 > rag.strength.strength
    assert ft.strength is None  # never ranked: a strength would be the prior's alone


def test_primary_signal_follows_the_evidence_there_is() -> None:
    outputs = [out(v, i, metrics={"key_facts": 1.0}) for v in (FEW, RAG) for i in range(1, 11)]
    rankings = [HumanRanking(comp(i), "ann", {1: 1, 2: 2}) for i in range(1, 11)]
    verdicts = [judged(i, FEW, RAG, 1) for i in range(1, 11)]
    assert analyse(evidence([FEW, RAG], outputs, rankings)).primary == "human"
    assert analyse(evidence([FEW, RAG], outputs, rankings[:9], verdicts, has_judge=True)).primary == "judge"
    nine = [*verdicts[:9], dataclasses.replace(verdicts[9], error=True)]
    assert analyse(evidence([FEW, RAG], outputs, rankings[:9], nine, has_judge=True)).primary == "key_facts"
    bare = [out(v, 1) for v in (FEW, RAG)]
    assert analyse(evidence([FEW, RAG], bare)).primary == "similarity"


def test_judge_win_rate_per_item_over_samples_without_errors_or_probes() -> None:
    w = VariantInfo(4, 104, "Unjudged", "rag_fine_tuned", True)
    outputs = [out(v, i, s) for v in (FEW, RAG, FT, w) for i, s in ((1, 0), (1, 1), (2, 0))]
    outputs += [out(v, 3, probe=True) for v in (FEW, RAG)]
    verdicts = [
        judged(1, FEW, RAG, 1),  # FEW wins
        judged(1, FEW, FT, -1),  # FEW loses
        judged(1, FEW, RAG, 0, sample=1, consistent=False),  # a tie (inconsistent)
        judged(1, FEW, FT, 1, sample=1, error=True),  # not a figure
        judged(2, RAG, FEW, -1),  # b better: FEW wins
        judged(3, FEW, RAG, -1),  # a probe
    ]
    ev = evidence([FEW, RAG, FT, w], outputs, judge=verdicts, has_judge=True, repeats=2)
    few, rag, ft, unjudged = analyse(ev).variants
    # FEW: item 1 -> (1 + 0 + 0.5) / 3 = 0.5, item 2 -> 1: mean 0.75, two-item bounds 0.5 and 1.
    assert few.judge_win_rate is not None and rag.judge_win_rate is not None and ft.judge_win_rate is not None
    assert (few.judge_win_rate.mean, few.judge_win_rate.lower, few.judge_win_rate.upper) == (0.75, 0.5, 1.0)
    assert (rag.judge_win_rate.mean, rag.judge_win_rate.n) == (0.125, 2)  # (0 + 0.5) / 2 and 0
    assert (ft.judge_win_rate.mean, ft.judge_win_rate.lower, ft.judge_win_rate.n) == (1.0, None, 1)
    assert unjudged.judge_win_rate is None
    assert all(v.judge_win_rate is None for v in analyse(dataclasses.replace(ev, has_judge=False)).variants)
    agreement = analyse(ev).agreement
    assert agreement is not None
    assert (agreement.judged_pairs, agreement.inconsistency_rate) == (
        5,
        0.2,
    )  # probes count: the judge's trust
    assert (agreement.kappa, agreement.alpha, agreement.shared_pairs) == (None, None, 0)


def test_agreement_kappa_and_alpha_on_a_constructed_case() -> None:
    a, b = VariantInfo(7, 107, "A", "few_shot", False), VariantInfo(3, 103, "B", "rag", False)
    outputs = [out(v, i) for v in (a, b) for i in range(1, 7)]
    # Labels read "+1: the lower version id (B) is better".
    verdicts = [
        judged(1, a, b, -1),  # +1
        judged(2, b, a, 1),  # +1
        judged(3, b, a, -1),  # -1
        judged(4, a, b, 0, consistent=False),  # 0
        judged(5, a, b, 1),  # -1, no human
        judged(6, a, b, 1, error=True),  # excluded: unit 6 is human-only
    ]
    rankings = [
        HumanRanking(comp(1), "ann", {3: 1, 7: 2}),  # +1
        HumanRanking(comp(1), "bob", {3: 1, 7: 2}),  # +1 -> majority +1
        HumanRanking(comp(2), "ann", {3: 1, 7: 2}),  # +1
        HumanRanking(comp(2), "bob", {3: 2, 7: 1}),  # -1 -> split: 0
        HumanRanking(comp(3), "ann", {3: 2, 7: 1}),  # -1
        HumanRanking(comp(4), "ann", {3: 1, 7: 1}),  # 0
        HumanRanking(comp(6), "ann", {3: 1, 7: 2}),  # +1
    ]
    agreement = analyse(evidence([a, b], outputs, rankings, verdicts, has_judge=True)).agreement
    assert agreement is not None
    # Shared units (judge, majority): (+1,+1) (+1,0) (-1,-1) (0,0). Agreed 3 of 4; judge marginals
    # {+1: 2, -1: 1, 0: 1}, human {+1: 1, 0: 2, -1: 1}: chance 2*1 + 1*1 + 1*2 = 5 of 16.
    # kappa = (3*4 - 5) / (16 - 5) = 7/11.
    assert agreement.kappa == pytest.approx(7 / 11)
    # Alpha (ordinal), pairable units 1-4. Coincidences: o(+1,+1) = 3 + 1, o(+1,-1) = o(-1,+1) = 1,
    # o(-1,-1) = 2, o(0,0) = 2; marginals -1: 3, 0: 2, +1: 5 (n = 10). Ordinal distances: d(-1,0) = 2.5^2,
    # d(0,1) = 3.5^2, d(-1,1) = 6^2. D_o = 2 * 36 = 72; D_e = 2 (3*2*6.25 + 2*5*12.25 + 3*5*36) / 9
    # = 1400/9; alpha = 1 - 72 * 9 / 1400 = 94/175.
    assert agreement.alpha == pytest.approx(94 / 175)
    assert (agreement.judged_pairs, agreement.inconsistency_rate, agreement.shared_pairs) == (5, 0.2, 4)


def test_compare_counts_wins_ties_losses_per_signal_and_lists_the_flips() -> None:
    a, b, c = FEW, RAG, FT
    facts = {  # item: (A's samples, B's samples)
        1: ([1.0, 0.0], [0.0, 0.0]),  # A by 0.5
        2: ([1.0], [0.0]),  # A by 1
        3: ([0.5], [0.5]),  # tie
        4: ([0.0], [0.25]),  # B by 0.25
    }
    outputs = [
        out(v, item, s, {"key_facts": x})
        for item, pair in facts.items()
        for v, values in zip((a, b), pair, strict=True)
        for s, x in enumerate(values)
    ]
    outputs += [out(a, 1, 0, {"similarity": 0.3}), out(c, 4)]  # similarity for A only: no pairs, no signal
    outputs += [out(a, 9, 0, {"key_facts": 0.0}, probe=True), out(b, 9, 0, {"key_facts": 1.0}, probe=True)]
    rankings = [
        HumanRanking(comp(1, 0), "ann", {1: 1, 2: 2}),
        HumanRanking(comp(1, 1), "ann", {1: 2, 2: 1}),
        HumanRanking(comp(1, 1), "bob", {1: 1, 2: 2}),  # item 1: (+1 - 1 + 1) / 3 > 0: A
        HumanRanking(comp(2), "ann", {1: 2, 2: 1, 3: 3}),  # B
        HumanRanking(comp(3), "ann", {1: 1, 2: 1}),  # tie
        HumanRanking(comp(4), "ann", {1: 1, 3: 2}),  # no B
        HumanRanking(comp(9), "ann", {1: 1, 2: 2}),  # a probe
    ]
    verdicts = [
        judged(1, b, a, -1),  # +1 for A
        judged(1, a, b, -1, sample=1),  # -1: item 1 ties
        judged(2, a, b, 1),  # A
        judged(3, a, b, 1, error=True),
        judged(4, a, c, 1),  # not B
    ]
    ev = evidence([a, b, c], outputs, rankings, verdicts, has_judge=True, repeats=2)
    paired = compare(ev, a.version_id, b.version_id)
    assert (paired.a, paired.b) == (a, b)
    signals = {s.signal: s for s in paired.signals}
    assert list(signals) == ["human", "judge", "key_facts", "probes"]
    kf = signals["key_facts"].result
    assert (kf.wins, kf.ties, kf.losses, kf.n) == (2, 1, 1, 4)
    assert kf.mean_difference == pytest.approx((0.5 + 1 + 0 - 0.25) / 4)
    assert signals["key_facts"].label == "Key facts"
    assert signals["key_facts"].a_better == [
        Flip(2, comp(2), "question 2", 1.0, 0.0),
        Flip(1, comp(1, 0), "question 1", 0.5, 0.0),  # sample 0's comparison, though both samples count
    ]
    assert signals["key_facts"].b_better == [Flip(4, comp(4), "question 4", 0.0, 0.25)]
    human = signals["human"]
    assert (human.result.wins, human.result.ties, human.result.losses) == (1, 1, 1)
    [flip] = human.a_better
    assert (flip.item_id, flip.comparison_id, flip.query) == (1, comp(1), "question 1")
    assert (flip.a_value, flip.b_value) == pytest.approx((2 / 3, 1 / 3))
    assert human.b_better == [Flip(2, comp(2), "question 2", 0.0, 1.0)]
    judge = signals["judge"].result
    assert (judge.wins, judge.ties, judge.losses, judge.n) == (1, 1, 0, 2)
    probes = signals["probes"]
    assert probes.label == "General probes (key facts)"
    assert (probes.result.losses, probes.result.n) == (1, 1)
    assert [f.item_id for f in probes.b_better] == [9]
    # Reversed, everything mirrors.
    back = {s.signal: s.result for s in compare(ev, b.version_id, a.version_id).signals}
    assert (back["key_facts"].wins, back["key_facts"].losses) == (1, 2)


def test_compare_keeps_the_fifty_biggest_flips() -> None:
    outputs = [out(FEW, i, metrics={"format": i / 100}) for i in range(1, 61)]
    outputs += [out(RAG, i, metrics={"format": 0.0}) for i in range(1, 61)]
    signal = compare(evidence([FEW, RAG], outputs), 1, 2).signals[0]
    assert signal.signal == "format" and signal.result.wins == 60
    assert [f.item_id for f in signal.a_better] == list(range(60, 10, -1))
    assert signal.b_better == []


def test_compare_refuses_a_foreign_or_repeated_version() -> None:
    ev = evidence([FEW, RAG], [out(FEW, 1), out(RAG, 1)])
    with pytest.raises(ValueError, match="not one of"):
        compare(ev, FEW.version_id, 99)
    with pytest.raises(ValueError):
        compare(ev, FEW.version_id, FEW.version_id)


def test_no_figure_is_nan_on_sparse_evidence() -> None:
    outputs = [
        out(FEW, 1, metrics={"key_facts": 1.0, "answer_words": 12.0}, latency=10, human=(4.0, 5.0)),
        out(RAG, 1, ok=False),
        out(FT, 2, metrics={"key_facts": None}, probe=True),
    ]
    ev = evidence([FEW, RAG, FT], outputs, [HumanRanking(comp(1), "ann", {1: 1, 2: 2})], has_judge=True)
    verdict = analyse(ev)
    assert not any(math.isnan(f) for f in floats(verdict))
    assert verdict.variants[0].human_score is not None and verdict.variants[0].human_score.mean == 4.5
    assert not any(math.isnan(f) for f in floats(compare(ev, 1, 2)))


def test_a_pending_output_is_neither_an_error_nor_a_failure() -> None:
    from app.verdict.analysis import analyse
    from app.verdict.evidence import Evidence, OutputEvidence, VariantInfo

    variant = VariantInfo(version_id=1, variant_id=1, name="v", strategy="few_shot", fine_tuned=False)
    answered = OutputEvidence(
        output_id=1, comparison_id=1, item_id=1, sample=0, version_id=1, ok=True, error=None, probe=False,
        latency_ms=10.0, ttft_ms=5.0, wait_ms=0.0, cost_usd=0.0, cached=False, metrics={"key_facts": (1.0, "")},
    )
    waiting = OutputEvidence(
        output_id=2, comparison_id=2, item_id=2, sample=0, version_id=1, ok=False, error=None, probe=False,
        latency_ms=None, ttft_ms=None, wait_ms=None, cost_usd=None, cached=False, pending=True,
    )
    evidence = Evidence(
        experiment_id=1, variants=[variant], outputs=[answered, waiting], rankings=[], judge=[], has_judge=False,
        repeats=1, queries={1: "a", 2: "b"}, comparisons={(1, 0): 1, (2, 0): 2},
    )
    verdict = analyse(evidence).variants[0]
    facts = verdict.metrics["key_facts"]
    assert (verdict.outputs, verdict.errors) == (2, 0)
    assert (facts.mean, facts.n, facts.missing, facts.missing_reason) == (1.0, 1, 1, "not answered yet")
