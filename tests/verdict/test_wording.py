"""The recommendation's sentences follow the evidence: a winner only when intervals separate, each other
sentence only when its figures exist."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from app.evaluation.metrics import METRIC_NAMES
from app.verdict.analysis import analyse
from app.verdict.evidence import (
    Agreement,
    Estimate,
    Evidence,
    OutputEvidence,
    ProbeResult,
    Strength,
    VariantInfo,
    VariantVerdict,
)
from app.verdict.wording import percent, recommend

EMPTY = Estimate(None, None, None, 0)


def vv(
    name: str,
    *,
    key_facts: tuple[float, float | None, float | None] | None = None,
    fmt: float | None = None,
    latency: float | None = None,
    cost: float | None = None,
    strength: tuple[float, float, float, float] | None = None,
    human: tuple[float, float, float] | None = None,
    probes: ProbeResult | None = None,
) -> VariantVerdict:
    metrics = dict.fromkeys(METRIC_NAMES, EMPTY)
    if key_facts is not None:
        metrics["key_facts"] = Estimate(*key_facts, n=10)
    if fmt is not None:
        metrics["format"] = Estimate(fmt, fmt, fmt, n=10)
    return VariantVerdict(
        variant=VariantInfo(len(name), len(name), name, "few_shot", False),
        outputs=10,
        errors=0,
        cached=0,
        metrics=metrics,
        human_score=Estimate(*human, n=10) if human else None,
        strength=Strength(*strength, ratings=40) if strength else None,
        judge_win_rate=None,
        latency_p50=latency,
        latency_p95=None,
        ttft_p50=None,
        wait_p50=None,
        cost_per_1k=cost,
        probes=probes,
    )


def words(
    variants: Sequence[VariantVerdict], primary: str = "key_facts", agreement: Agreement | None = None
) -> str:
    return " ".join(recommend(variants, primary, agreement)[0])


def two_variant_evidence(items: int) -> Evidence:
    """RAG scores 1.0 and 0.4 on alternate items, Few-shot 0.6 and 0.0: means 70% and 30% at any even size."""
    rag, few = VariantInfo(1, 1, "RAG", "rag", False), VariantInfo(2, 2, "Few-shot", "few_shot", False)
    outputs = [
        OutputEvidence(
            output_id=2 * item + k,
            comparison_id=item,
            item_id=item,
            sample=0,
            version_id=version.version_id,
            ok=True,
            error=None,
            probe=False,
            latency_ms=None,
            ttft_ms=None,
            wait_ms=None,
            cost_usd=None,
            cached=False,
            metrics={"key_facts": (high if item % 2 else low, "")},
        )
        for item in range(items)
        for k, (version, high, low) in enumerate(((rag, 1.0, 0.4), (few, 0.6, 0.0)))
    ]
    return Evidence(1, [rag, few], outputs, [], [], False, 1, {}, {(i, 0): i for i in range(items)})


def test_the_winner_is_named_only_when_the_intervals_separate() -> None:
    many = analyse(two_variant_evidence(40))
    assert many.primary == "key_facts" and many.enough_evidence
    lead = many.recommendation[0]
    assert lead.startswith("RAG leads on key facts: 70% [") and lead.endswith(
        "for Few-shot, 40 points ahead."
    )
    assert " vs 30% [" in lead
    # Two items: a two-value bootstrap's bounds are the two values (see tests/stats/test_paired.py).
    few = analyse(two_variant_evidence(2))
    assert not few.enough_evidence
    assert few.recommendation[0] == (
        "Not enough evidence to pick between RAG (70% [40-100]) and Few-shot (30% [0-60]) on key facts: "
        "their intervals overlap; add items to decide it."
    )


def test_quality_sentence_for_one_variant_none_and_missing_intervals() -> None:
    assert recommend([vv("RAG", key_facts=(0.71, 0.62, 0.79))], "key_facts", None) == (
        ["RAG scores 71% [62-79] on key facts; there is nothing to compare it with."],
        False,
    )
    assert recommend([vv("A"), vv("B")], "key_facts", None) == (
        ["Not enough evidence: no variant has a key facts figure yet."],
        False,
    )
    assert words([vv("A", key_facts=(0.5, 0.4, 0.6)), vv("B")]) == (
        "Only A has a key facts figure (50% [40-60]); there is nothing to compare it with."
    )
    text, enough = recommend(
        [vv("A", key_facts=(1.0, None, None)), vv("B", key_facts=(0.0, None, None))], "key_facts", None
    )
    assert not enough
    assert text[0] == (
        "Not enough evidence to pick between A (100%) and B (0%) on key facts: "
        "there are too few items for an interval; add items to decide it."
    )
    assert recommend([], "key_facts", None) == ([], False)


def test_human_strengths_separate_or_ask_for_more_ratings() -> None:
    rag = vv("RAG", strength=(0.5, 0.2, 0.8, 0.83), human=(4.1, 3.8, 4.4))
    few = vv("Few-shot", strength=(-0.5, -0.8, -0.2, 0.17))
    text, enough = recommend([few, rag], "human", None)
    assert enough
    # 1 / (1 + e^-1) = 0.731
    assert text[0] == (
        "The raters prefer RAG (strength 0.50 [0.20 to 0.80], P(best) 0.83; mean score 4.1 [3.8-4.4] of 5) "
        "to Few-shot (strength -0.50 [-0.80 to -0.20], P(best) 0.17): "
        "they would pick RAG about 73% of the time."
    )
    close = vv("Few-shot", strength=(-0.5, -0.9, 0.3, 0.17))
    text, enough = recommend([close, rag], "human", None)
    assert not enough
    assert text[0].startswith("Not enough evidence to pick between RAG (strength 0.50")
    assert text[0].endswith(
        "on rater preference: their intervals overlap; rate more comparisons to decide it."
    )


@pytest.mark.parametrize(
    ("formats", "sentence"),
    [
        ((0.96, 0.5, None), "A is the only one in the house format (96%)."),
        ((0.5, 0.96, 0.4), "B is the only one in the house format (96%)."),
        ((0.96, 0.92, 0.1), "A (96%) and B (92%) follow the house format."),
        ((0.3, 0.4, 0.1), "No variant follows the format reliably (best: B at 40%)."),
        ((None, 0.95, None), "B follows the house format (95%)."),
        ((None, None, None), None),
    ],
)
def test_format_sentence(formats: tuple[float | None, ...], sentence: str | None) -> None:
    variants = [vv(n, key_facts=(0.5, 0.4, 0.6), fmt=f) for n, f in zip("ABC", formats, strict=True)]
    text = recommend(variants, "key_facts", None)[0]
    found = [s for s in text if "format" in s]
    assert found == ([sentence] if sentence else [])


@pytest.mark.parametrize(
    ("leader_ms", "fastest_ms", "sentence"),
    [
        (1400.0, 1000.0, "A runs at 1.4x the latency of B (median 1.4 s vs 1.0 s)."),
        (880.0, 400.0, "A runs at 2.2x the latency of B (median 880 ms vs 400 ms)."),
        (1050.0, 1000.0, None),  # within 10%: not worth a sentence
        (900.0, 1000.0, "A is also the fastest (median 900 ms)."),
        (None, 1000.0, None),
    ],
)
def test_latency_ratio_of_the_leader(
    leader_ms: float | None, fastest_ms: float, sentence: str | None
) -> None:
    variants = [
        vv("A", key_facts=(0.9, 0.8, 1.0), latency=leader_ms),
        vv("B", key_facts=(0.2, 0.1, 0.3), latency=fastest_ms),
    ]
    found = [s for s in recommend(variants, "key_facts", None)[0] if "fast" in s or "latency" in s]
    assert found == ([sentence] if sentence else [])


def test_cost_sentence_only_when_known_and_not_all_zero() -> None:
    kf = (0.5, 0.4, 0.6)
    assert (
        "Cost per 1,000 queries: A $1.20 and C under $0.01."
        in recommend(
            [vv("A", key_facts=kf, cost=1.2), vv("B", key_facts=kf), vv("C", key_facts=kf, cost=0.004)],
            "key_facts",
            None,
        )[0]
    )
    assert "Cost" not in words([vv("A", key_facts=kf, cost=0.0), vv("B", key_facts=kf, cost=0.0)])
    assert "Cost" not in words([vv("A", key_facts=kf), vv("B", key_facts=kf)])


def test_probe_sentence_names_the_baseline() -> None:
    variants = [
        vv("Few-shot", key_facts=(0.2, 0.1, 0.3), probes=ProbeResult(20, 18, None, [], [])),
        vv(
            "Fine-tuned", key_facts=(0.3, 0.2, 0.4), probes=ProbeResult(20, 15, "Few-shot", [1, 2, 3, 4], [9])
        ),
        vv("RAG", key_facts=(0.7, 0.6, 0.8), probes=ProbeResult(20, 19, "Few-shot", [], [9])),
    ]
    probe_sentences = [s for s in recommend(variants, "key_facts", None)[0] if "probes" in s]
    assert probe_sentences == ["Fine-tuned lost 4 of 20 general probes that Few-shot answered."]


@pytest.mark.parametrize(
    ("kappa", "phrase"),
    [
        (0.72, "The LLM judge agrees well with the raters (kappa 0.72 over 40 pairs rated by both)"),
        (0.6, "agrees well with the raters (kappa 0.60"),
        (0.59, "agrees only moderately with the raters (kappa 0.59"),
        (0.4, "agrees only moderately"),
        (0.39, "agrees poorly with the raters — do not rely on it (kappa 0.39"),
        (-0.2, "do not rely on it (kappa -0.20"),
    ],
)
def test_judge_trust_thresholds(kappa: float, phrase: str) -> None:
    agreement = Agreement(judged_pairs=50, inconsistency_rate=0.12, kappa=kappa, alpha=0.5, shared_pairs=40)
    sentence = recommend([vv("A", key_facts=(0.5, 0.4, 0.6))], "key_facts", agreement)[0][-1]
    assert phrase in sentence
    assert sentence.endswith("; it contradicted itself when the answers were swapped on 12% of 50 pairs.")


def test_judge_that_cannot_be_checked() -> None:
    unchecked = Agreement(judged_pairs=0, inconsistency_rate=None, kappa=None, alpha=None, shared_pairs=0)
    assert words([vv("A")], agreement=unchecked).endswith(
        "The LLM judge cannot be checked yet: no pairs rated by both."
    )
    one_way = Agreement(judged_pairs=3, inconsistency_rate=0.0, kappa=None, alpha=None, shared_pairs=3)
    assert "cannot be checked yet: the 3 pairs rated by both all went one way" in words(
        [vv("A")], agreement=one_way
    )
    assert "judge" not in words([vv("A", key_facts=(0.5, 0.4, 0.6))])


def test_percentages_round_halves_up() -> None:
    assert [percent(x) for x in (0.125, 0.705, 0.7, 0.994, 0.995, 0.0)] == [13, 71, 70, 99, 100, 0]


def test_the_issue_example_reads_as_one_recommendation() -> None:
    variants = [
        vv(
            "Few-shot",
            key_facts=(0.18, 0.11, 0.26),
            fmt=0.2,
            latency=800.0,
            probes=ProbeResult(20, 19, None, [], []),
        ),
        vv(
            "RAG (policies)",
            key_facts=(0.71, 0.62, 0.79),
            fmt=0.3,
            latency=1120.0,
            probes=ProbeResult(20, 19, "Few-shot", [], []),
        ),
        vv(
            "Fine-tuned",
            key_facts=(0.2, 0.12, 0.3),
            fmt=0.96,
            latency=700.0,
            probes=ProbeResult(20, 15, "Few-shot", [1, 2, 3, 4], []),
        ),
    ]
    text, enough = recommend(variants, "key_facts", None)
    assert enough
    assert text == [
        "RAG (policies) leads on key facts: 71% [62-79] vs 20% [12-30] for Fine-tuned, 51 points ahead.",
        "Fine-tuned is the only one in the house format (96%).",
        "RAG (policies) runs at 1.6x the latency of Fine-tuned (median 1.1 s vs 700 ms).",
        "Fine-tuned lost 4 of 20 general probes that Few-shot answered.",
    ]
