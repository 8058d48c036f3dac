"""The verdict in plain words: sentences that follow the evidence, the quality call first, each one left out
when a figure it needs is missing (nothing here computes a figure the analysis did not)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.evaluation.metrics import METRIC_LABELS
from app.verdict.evidence import Agreement, Estimate, VariantVerdict

RELIABLE_FORMAT = 0.9  # a format followed this often can be called "the house format"
SLOWER = 1.1  # a median latency ratio up to this reads as "about as fast"
KAPPA_GOOD = 0.6
KAPPA_MODERATE = 0.4
FRACTIONS = frozenset(METRIC_LABELS) - {"answer_words"}

_SIGNAL_NAMES = {"human": "rater preference", "judge": "judge win rate", "human_score": "rater score"}


@dataclass(frozen=True)
class _Figure:
    verdict: VariantVerdict
    value: float
    lower: float | None
    upper: float | None
    text: str  # as read: "71% [62-79]"

    @property
    def name(self) -> str:
        return self.verdict.variant.name


def recommend(
    variants: Sequence[VariantVerdict], primary: str, agreement: Agreement | None
) -> tuple[list[str], bool]:
    """Sentences on who wins the primary signal and what else differs; True if the leaders' intervals part."""
    if not variants:
        return [], False
    figures = [f for v in variants if (f := _figure(v, primary)) is not None]
    figures.sort(key=lambda f: -f.value)  # stable: of equal figures the first variant leads
    sentences, enough = _quality(figures, primary, len(variants))
    sentences += _format(variants)
    if figures:
        sentences += _latency(figures[0].verdict, variants)
    sentences += _cost(variants)
    sentences += _probes(variants)
    sentences += _judge(agreement)
    return sentences, enough


def percent(value: float) -> int:
    """A fraction as a whole percentage, halves rounded up (round() would send 0.125 to 12)."""
    return math.floor(round(value * 100, 6) + 0.5)


def _signal_name(primary: str) -> str:
    label = _SIGNAL_NAMES.get(primary) or METRIC_LABELS.get(primary, primary)
    return label[:1].lower() + label[1:]


def _figure(verdict: VariantVerdict, primary: str) -> _Figure | None:
    if primary == "human":
        s = verdict.strength
        if s is None:
            return None
        text = f"strength {s.strength:.2f} [{s.lower:.2f} to {s.upper:.2f}], P(best) {s.p_best:.2f}"
        return _Figure(verdict, s.strength, s.lower, s.upper, text)
    if primary == "judge":
        estimate = verdict.judge_win_rate
    elif primary == "human_score":
        estimate = verdict.human_score
    else:
        estimate = verdict.metrics.get(primary)
    if estimate is None or estimate.mean is None:
        return None
    return _Figure(verdict, estimate.mean, estimate.lower, estimate.upper, _estimate_text(estimate, primary))


def _estimate_text(estimate: Estimate, primary: str) -> str:
    mean, lower, upper = estimate.mean, estimate.lower, estimate.upper
    assert mean is not None
    if primary in FRACTIONS or primary == "judge":
        bounds = f" [{percent(lower)}-{percent(upper)}]" if lower is not None and upper is not None else ""
        return f"{percent(mean)}%{bounds}"
    bounds = f" [{lower:.1f}-{upper:.1f}]" if lower is not None and upper is not None else ""
    return f"{mean:.1f}{bounds}" + (" of 5" if primary == "human_score" else "")


def _quality(figures: Sequence[_Figure], primary: str, count: int) -> tuple[list[str], bool]:
    signal = _signal_name(primary)
    if not figures:
        return [f"Not enough evidence: no variant has a {signal} figure yet."], False
    leader = figures[0]
    if len(figures) == 1:
        if count == 1:
            return [
                f"{leader.name} scores {leader.text} on {signal}; there is nothing to compare it with."
            ], False
        return [
            f"Only {leader.name} has a {signal} figure ({leader.text}); there is nothing to compare it with."
        ], False
    runner = figures[1]
    if leader.lower is not None and runner.upper is not None and leader.lower > runner.upper:
        return [_win(leader, runner, primary, signal)], True
    why = "their intervals overlap"
    if None in (leader.lower, leader.upper, runner.lower, runner.upper):
        why = "there are too few items for an interval"
    fix = "rate more comparisons" if primary == "human" else "add items"
    return [
        f"Not enough evidence to pick between {leader.name} ({leader.text}) and "
        f"{runner.name} ({runner.text}) on {signal}: {why}; {fix} to decide it."
    ], False


def _win(leader: _Figure, runner: _Figure, primary: str, signal: str) -> str:
    if primary == "human":
        # Bradley-Terry log-strengths: P(i preferred to j) = 1 / (1 + exp(s_j - s_i)).
        preferred = percent(1 / (1 + math.exp(runner.value - leader.value)))
        score = leader.verdict.human_score
        mean_score = (
            f"; mean score {_estimate_text(score, 'human_score')}" if score and score.mean is not None else ""
        )
        return (
            f"The raters prefer {leader.name} ({leader.text}{mean_score}) to {runner.name} ({runner.text}): "
            f"they would pick {leader.name} about {preferred}% of the time."
        )
    if primary in FRACTIONS or primary == "judge":
        margin = f"{percent(leader.value) - percent(runner.value)} points ahead"
    else:
        margin = f"{round(leader.value, 1) - round(runner.value, 1):.1f} ahead"
    return f"{leader.name} leads on {signal}: {leader.text} vs {runner.text} for {runner.name}, {margin}."


def _format(variants: Sequence[VariantVerdict]) -> list[str]:
    scored = [
        (v.variant.name, e.mean) for v in variants if (e := v.metrics.get("format")) and e.mean is not None
    ]
    if not scored:
        return []
    reliable = [(name, mean) for name, mean in scored if mean >= RELIABLE_FORMAT]
    if len(reliable) == 1:
        name, mean = reliable[0]
        if len(scored) == 1:
            return [f"{name} follows the house format ({percent(mean)}%)."]
        return [f"{name} is the only one in the house format ({percent(mean)}%)."]
    if reliable:
        return [
            f"{_join([f'{name} ({percent(mean)}%)' for name, mean in reliable])} follow the house format."
        ]
    name, mean = max(scored, key=lambda s: s[1])
    return [f"No variant follows the format reliably (best: {name} at {percent(mean)}%)."]


def _latency(leader: VariantVerdict, variants: Sequence[VariantVerdict]) -> list[str]:
    timed = [v for v in variants if v.latency_p50 is not None and v.latency_p50 > 0]
    if leader.latency_p50 is None or len(timed) < 2:
        return []
    fastest = min(timed, key=lambda v: v.latency_p50 or 0.0)
    assert fastest.latency_p50 is not None
    if fastest is leader:
        return [f"{leader.variant.name} is also the fastest (median {_ms(leader.latency_p50)})."]
    ratio = leader.latency_p50 / fastest.latency_p50
    if ratio <= SLOWER:
        return []
    return [
        f"{leader.variant.name} runs at {ratio:.1f}x the latency of {fastest.variant.name} "
        f"(median {_ms(leader.latency_p50)} vs {_ms(fastest.latency_p50)})."
    ]


def _cost(variants: Sequence[VariantVerdict]) -> list[str]:
    priced = [(v.variant.name, v.cost_per_1k) for v in variants if v.cost_per_1k is not None]
    if not priced or all(cost == 0 for _, cost in priced):
        return []
    return [f"Cost per 1,000 queries: {_join([f'{name} {_usd(cost)}' for name, cost in priced])}."]


def _probes(variants: Sequence[VariantVerdict]) -> list[str]:
    return [
        f"{v.variant.name} lost {len(p.lost)} of {p.total} general probes that {p.baseline} answered."
        for v in variants
        if (p := v.probes) is not None and p.baseline is not None and p.lost
    ]


def _judge(agreement: Agreement | None) -> list[str]:
    if agreement is None:
        return []
    swapped = ""
    if agreement.inconsistency_rate is not None:
        swapped = (
            f"; it contradicted itself when the answers were swapped on "
            f"{percent(agreement.inconsistency_rate)}% of {agreement.judged_pairs} pairs"
        )
    kappa = agreement.kappa
    if kappa is None:
        if agreement.shared_pairs == 0:
            return [f"The LLM judge cannot be checked yet: no pairs rated by both{swapped}."]
        return [
            f"The LLM judge cannot be checked yet: the {agreement.shared_pairs} pairs rated by both all went "
            f"one way, which says nothing beyond chance{swapped}."
        ]
    checked = f"(kappa {kappa:.2f} over {agreement.shared_pairs} pairs rated by both)"
    if kappa >= KAPPA_GOOD:
        return [f"The LLM judge agrees well with the raters {checked}{swapped}."]
    if kappa >= KAPPA_MODERATE:
        return [f"The LLM judge agrees only moderately with the raters {checked}{swapped}."]
    return [f"The LLM judge agrees poorly with the raters — do not rely on it {checked}{swapped}."]


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _ms(value: float) -> str:
    return f"{value / 1000:.1f} s" if value >= 1000 else f"{value:.0f} ms"


def _usd(value: float) -> str:
    if value == 0:
        return "$0"
    return "under $0.01" if value < 0.01 else f"${value:,.2f}"
