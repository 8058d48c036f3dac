"""The verdict's statistics: per-variant estimates over items, Bradley-Terry strengths from the rankings, the
judge's win rate and its agreement with the raters, general probes, and the paired A-vs-B comparison.

Every interval is a percentile bootstrap over ITEMS (an item's samples are averaged first, and for
Bradley-Terry all its rankings, from every rater and sample, are drawn together, so repeats narrow nothing
they should not). Probe items measure forgetting, not the task: they are left out of every quality figure
and reported on their own. No figure is NaN; an undefined one is None.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from app.evaluation.metrics import METRIC_LABELS, METRIC_NAMES
from app.stats import bradley_terry
from app.stats.agreement import cohen_kappa, krippendorff_alpha
from app.stats.bradley_terry import BOOTSTRAP_RESAMPLES
from app.stats.paired import PairedResult, bootstrap_mean_interval, compare_outcomes, compare_paired
from app.verdict.evidence import (
    Agreement,
    Estimate,
    Evidence,
    Flip,
    JudgeEvidence,
    OutputEvidence,
    PairedComparison,
    ProbeResult,
    SignalComparison,
    Strength,
    VariantInfo,
    VariantVerdict,
    Verdict,
)
from app.verdict.wording import recommend

FAILED = "the output failed"
NOT_SCORED = "not scored yet"  # an answered output the scorer has not reached
NOT_ANSWERED = "not answered yet"  # the experiment is still running (or was cancelled before it)
MIN_PRIMARY = 10  # rankings (or judge verdicts) before that signal leads the recommendation
MAX_FLIPS = 50
TIE_TOLERANCE = 1e-9  # compare_paired's default: flips must list exactly the items it counts as wins
RETRIEVAL = frozenset({"rag", "rag_fine_tuned"})
SIGNAL_LABELS = {"human": "Human rankings", "judge": "LLM judge", "probes": "General probes (key facts)"}

Unit = tuple[int, int, int]  # (comparison id, lower version id, higher version id)


@dataclass(frozen=True)
class _Index:
    """Lookups shared by every figure, built once per evidence."""

    item_of: Mapping[int, int]  # comparison id -> item id
    probe_items: frozenset[int]
    outputs: Mapping[int, Sequence[OutputEvidence]]  # version id -> its outputs
    first_comparison: Mapping[int, int]  # item id -> the comparison of its lowest sample (a flip's link)
    queries: Mapping[int, str]

    def task(self, comparison_id: int) -> bool:
        return self.item_of.get(comparison_id) not in self.probe_items


def _index(evidence: Evidence) -> _Index:
    item_of = {comparison: item for (item, _), comparison in evidence.comparisons.items()}
    outputs: dict[int, list[OutputEvidence]] = defaultdict(list)
    for output in evidence.outputs:
        item_of.setdefault(output.comparison_id, output.item_id)
        outputs[output.version_id].append(output)
    probes = frozenset(o.item_id for o in evidence.outputs if o.probe)
    samples = {(o.item_id, o.sample): o.comparison_id for o in evidence.outputs} | dict(evidence.comparisons)
    first: dict[int, int] = {}
    for item, sample in sorted(samples, reverse=True):  # the lowest sample is written last, and stays
        first[item] = samples[(item, sample)]
    return _Index(item_of, probes, outputs, first, evidence.queries)


def analyse(evidence: Evidence, *, seed: int = 0) -> Verdict:
    """Every variant's figures, the judge's agreement with the raters, and the recommendation."""
    index = _index(evidence)
    rankings = _usable_rankings(evidence, index)
    strengths = _strengths(evidence.variants, rankings, seed)
    verdicts = [v for v in evidence.judge if not v.error]
    task_verdicts = [v for v in verdicts if v.comparison_id in index.item_of and index.task(v.comparison_id)]
    correct = {v.version_id: _probes_correct(index.outputs.get(v.version_id, ())) for v in evidence.variants}
    baseline = _baseline(evidence.variants)
    variants = [
        _variant(
            evidence, info, index, strengths.get(info.version_id), task_verdicts, correct, baseline, seed
        )
        for info in evidence.variants
    ]
    agreement = _agreement(evidence, verdicts) if evidence.has_judge else None
    if len(rankings) >= MIN_PRIMARY:
        primary = "human"
    elif evidence.has_judge and len(task_verdicts) >= MIN_PRIMARY:
        primary = "judge"
    elif any(v.metrics["key_facts"].n >= 1 for v in variants):
        primary = "key_facts"
    else:
        primary = "similarity"
    sentences, enough = recommend(variants, primary, agreement)
    return Verdict(evidence.experiment_id, variants, agreement, primary, sentences, enough)


def _variant(
    evidence: Evidence,
    info: VariantInfo,
    index: _Index,
    strength: Strength | None,
    verdicts: Sequence[JudgeEvidence],
    correct: Mapping[int, set[int]],
    baseline: VariantInfo,
    seed: int,
) -> VariantVerdict:
    outputs = index.outputs.get(info.version_id, ())
    task = [o for o in outputs if not o.probe]
    answered = [o for o in outputs if o.ok]
    human: dict[int, list[float]] = defaultdict(list)
    for o in task:
        if o.human_scores:
            human[o.item_id].append(sum(o.human_scores) / len(o.human_scores))
    judge = _judge_win_rate(info.version_id, verdicts, index, seed) if evidence.has_judge else None
    costs = [o.cost_usd for o in answered if o.cost_usd is not None]
    return VariantVerdict(
        variant=info,
        outputs=len(outputs),
        errors=sum(1 for o in outputs if not o.ok and not o.pending),
        cached=sum(1 for o in outputs if o.cached),
        metrics={name: _metric(task, name, evidence.repeats, seed) for name in METRIC_NAMES},
        human_score=_estimate(human, seed) if human else None,
        strength=strength,
        judge_win_rate=judge,
        latency_p50=_percentile((o.latency_ms for o in answered), 50),
        latency_p95=_percentile((o.latency_ms for o in answered), 95),
        ttft_p50=_percentile((o.ttft_ms for o in answered), 50),
        wait_p50=_percentile((o.wait_ms for o in answered), 50),
        cost_per_1k=sum(costs) / len(costs) * 1000 if costs else None,
        probes=_probe_result(info, index, correct, baseline),
    )


def _estimate(
    per_item: Mapping[int, Sequence[float]], seed: int, missing: int = 0, reason: str = "", repeats: int = 1
) -> Estimate:
    # Sorted: the bootstrap is seeded, so the same items must resample the same whatever the output order.
    items = sorted(item for item, values in per_item.items() if values)
    means = [sum(per_item[item]) / len(per_item[item]) for item in items]
    spread = None
    if repeats > 1:
        deviations = [float(np.std(per_item[i], ddof=1)) for i in items if len(per_item[i]) >= 2]
        spread = sum(deviations) / len(deviations) if deviations else None
    interval = bootstrap_mean_interval(means, resamples=BOOTSTRAP_RESAMPLES, seed=seed)
    if interval is not None:
        mean, lower, upper = interval
        return Estimate(mean, lower, upper, len(means), missing, reason, spread)
    # One item has a mean but no interval; none has neither.
    return Estimate(means[0] if means else None, None, None, len(means), missing, reason, spread)


def _metric(outputs: Sequence[OutputEvidence], name: str, repeats: int, seed: int) -> Estimate:
    values: dict[int, list[float]] = defaultdict(list)
    reasons: Counter[str] = Counter()
    for o in outputs:
        if o.ok:
            value, reason = o.metrics.get(name, (None, NOT_SCORED))
        else:
            value, reason = None, NOT_ANSWERED if o.pending else FAILED
        if value is None or not math.isfinite(value):
            reasons[reason or NOT_SCORED] += 1
        else:
            values[o.item_id].append(value)
    reason = reasons.most_common(1)[0][0] if reasons else ""
    return _estimate(values, seed, sum(reasons.values()), reason, repeats)


def _percentile(values: Iterable[float | None], q: float) -> float | None:
    known = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.percentile(known, q)) if known else None


def _usable_rankings(evidence: Evidence, index: _Index) -> list[tuple[int, list[int | None]]]:
    """(item, ranks by variant index) per task ranking that ranks two or more of the experiment's variants."""
    usable = []
    for ranking in evidence.rankings:
        ranks = [ranking.ranks.get(v.version_id) for v in evidence.variants]
        known = ranking.comparison_id in index.item_of and index.task(ranking.comparison_id)
        if known and sum(r is not None for r in ranks) >= 2:
            usable.append((index.item_of[ranking.comparison_id], ranks))
    # The bootstrap is seeded and follows the order items first appear in: the same items must resample the
    # same whatever order the rankings came in.
    return sorted(usable, key=lambda pair: pair[0])


def _strengths(
    variants: Sequence[VariantInfo], rankings: Sequence[tuple[int, Sequence[int | None]]], seed: int
) -> dict[int, Strength]:
    # Fit only the variants someone ranked: an unranked one would get a strength made of the prior alone.
    ranked = [i for i in range(len(variants)) if any(r[i] is not None for _, r in rankings)]
    if not ranked:
        return {}
    # Every ranking of one dataset item (its raters, its samples) is resampled together, like every interval.
    fit = bradley_terry.analyse(
        [[r[i] for i in ranked] for _, r in rankings],
        len(ranked),
        clusters=[item for item, _ in rankings],
        resamples=BOOTSTRAP_RESAMPLES,
        seed=seed,
    )
    return {
        variants[i].version_id: Strength(
            float(fit.strengths[j]),
            float(fit.lower[j]),
            float(fit.upper[j]),
            float(fit.p_best[j]),
            len(rankings),
        )
        for j, i in enumerate(ranked)
    }


def _judge_win_rate(
    version_id: int, verdicts: Sequence[JudgeEvidence], index: _Index, seed: int
) -> Estimate | None:
    scores: dict[int, list[float]] = defaultdict(list)
    for v in verdicts:
        if version_id in (v.a_version_id, v.b_version_id) and v.a_version_id != v.b_version_id:
            oriented = v.outcome if v.a_version_id == version_id else -v.outcome
            scores[index.item_of[v.comparison_id]].append((oriented + 1) / 2)  # win 1, tie 0.5, loss 0
    return _estimate(scores, seed) if scores else None


def _probes_correct(outputs: Sequence[OutputEvidence]) -> set[int]:
    """Probe items with every key fact present in most of this variant's samples (None counts as wrong)."""
    hits: dict[int, list[bool]] = defaultdict(list)
    for o in outputs:
        if o.probe:
            value = o.metrics.get("key_facts", (None, ""))[0] if o.ok else None
            hits[o.item_id].append(value == 1.0)
    return {item for item, samples in hits.items() if 2 * sum(samples) > len(samples)}


def _baseline(variants: Sequence[VariantInfo]) -> VariantInfo:
    """What forgetting is measured against: the plain prompted model, as near as the experiment has one."""
    plain = [v for v in variants if v.strategy == "few_shot"] or [
        v for v in variants if not v.fine_tuned and v.strategy not in RETRIEVAL
    ]
    return (plain or list(variants))[0]


def _probe_result(
    info: VariantInfo, index: _Index, correct: Mapping[int, set[int]], baseline: VariantInfo
) -> ProbeResult | None:
    if not index.probe_items:
        return None
    mine = correct[info.version_id]
    if info.version_id == baseline.version_id:
        return ProbeResult(len(index.probe_items), len(mine), None, [], [])
    theirs = correct[baseline.version_id]
    return ProbeResult(
        len(index.probe_items), len(mine), baseline.name, sorted(theirs - mine), sorted(mine - theirs)
    )


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


def _agreement(evidence: Evidence, verdicts: Sequence[JudgeEvidence]) -> Agreement:
    ids = {v.version_id for v in evidence.variants}
    judged: dict[Unit, int] = defaultdict(int)
    for v in verdicts:
        if v.a_version_id != v.b_version_id:
            low, high = sorted((v.a_version_id, v.b_version_id))
            # Labels read "+1: the lower version id is better", whichever way round the judge was asked.
            judged[(v.comparison_id, low, high)] += v.outcome if v.a_version_id == low else -v.outcome
    judge = {unit: _sign(total) for unit, total in judged.items()}
    human: dict[Unit, dict[str, int]] = defaultdict(dict)
    for ranking in evidence.rankings:
        ranked = sorted(version for version in ranking.ranks if version in ids)
        for i, low in enumerate(ranked):
            for high in ranked[i + 1 :]:
                label = _sign(ranking.ranks[high] - ranking.ranks[low])
                human[(ranking.comparison_id, low, high)][ranking.rater] = label
    shared = sorted(set(judge) & set(human))
    kappa = cohen_kappa([(judge[unit], _majority(human[unit].values())) for unit in shared])
    units = sorted(set(judge) | set(human))
    raters = sorted({rater for labels in human.values() for rater in labels})
    table: list[list[float | None]] = [
        [human[u].get(rater) if u in human else None for u in units] for rater in raters
    ]
    table.append([judge.get(u) for u in units])  # the judge's own row: a rater named "judge" stays apart
    alpha = krippendorff_alpha(table, "ordinal") if units else None
    inconsistency = sum(1 for v in verdicts if not v.consistent) / len(verdicts) if verdicts else None
    return Agreement(len(verdicts), inconsistency, kappa, alpha, len(shared))


def _majority(labels: Iterable[int]) -> int:
    votes = Counter(labels).most_common()
    if len(votes) > 1 and votes[0][1] == votes[1][1]:
        return 0  # a split vote is no preference
    return votes[0][0]


def compare(evidence: Evidence, a_version_id: int, b_version_id: int, *, seed: int = 0) -> PairedComparison:
    """A against B on every signal with at least one item both have, with the items where each one won."""
    a, b = _find(evidence, a_version_id), _find(evidence, b_version_id)
    if a_version_id == b_version_id:
        raise ValueError("compare two different variants")
    index = _index(evidence)
    human: dict[int, list[int]] = defaultdict(list)
    for r in evidence.rankings:
        item = index.item_of.get(r.comparison_id)
        if (
            item is not None
            and item not in index.probe_items
            and a_version_id in r.ranks
            and b_version_id in r.ranks
        ):
            human[item].append(_sign(r.ranks[b_version_id] - r.ranks[a_version_id]))
    judge: dict[int, list[int]] = defaultdict(list)
    for v in evidence.judge:
        item = index.item_of.get(v.comparison_id)
        if v.error or item is None or item in index.probe_items:
            continue
        if (v.a_version_id, v.b_version_id) in ((a_version_id, b_version_id), (b_version_id, a_version_id)):
            judge[item].append(v.outcome if v.a_version_id == a_version_id else -v.outcome)
    signals = [
        _outcome_signal(index, name, prefs, seed) for name, prefs in (("human", human), ("judge", judge))
    ]
    a_out, b_out = index.outputs.get(a_version_id, ()), index.outputs.get(b_version_id, ())
    for name in METRIC_NAMES:
        signals.append(
            _paired_signal(index, name, METRIC_LABELS[name], _means(a_out, name), _means(b_out, name), seed)
        )
    if index.probe_items:
        a_probes, b_probes = _means(a_out, "key_facts", probes=True), _means(b_out, "key_facts", probes=True)
        signals.append(_paired_signal(index, "probes", SIGNAL_LABELS["probes"], a_probes, b_probes, seed))
    return PairedComparison(a, b, [s for s in signals if s is not None and s.result.n >= 1])


def _find(evidence: Evidence, version_id: int) -> VariantInfo:
    for info in evidence.variants:
        if info.version_id == version_id:
            return info
    raise ValueError(f"version {version_id} is not one of experiment {evidence.experiment_id}'s variants")


def _means(outputs: Sequence[OutputEvidence], name: str, *, probes: bool = False) -> dict[int, float]:
    values: dict[int, list[float]] = defaultdict(list)
    for o in outputs:
        value = o.metrics.get(name, (None, ""))[0] if o.ok else None
        if o.probe == probes and value is not None and math.isfinite(value):
            values[o.item_id].append(value)
    return {item: sum(v) / len(v) for item, v in values.items()}


def _outcome_signal(
    index: _Index, signal: str, prefs: Mapping[int, Sequence[int]], seed: int
) -> SignalComparison | None:
    if not prefs:
        return None
    items = sorted(prefs)
    means = {item: sum(prefs[item]) / len(prefs[item]) for item in items}
    result = compare_outcomes(
        [_sign(means[item]) for item in items], resamples=BOOTSTRAP_RESAMPLES, seed=seed
    )
    # A flip shows each side's share of the item's preferences, ties counted half.
    shares = {item: ((m + 1) / 2, (1 - m) / 2) for item, m in means.items()}
    return _signal(index, signal, SIGNAL_LABELS[signal], result, shares)


def _paired_signal(
    index: _Index, signal: str, label: str, a: Mapping[int, float], b: Mapping[int, float], seed: int
) -> SignalComparison:
    items = sorted(set(a) | set(b))
    result = compare_paired(
        [a.get(i) for i in items], [b.get(i) for i in items], resamples=BOOTSTRAP_RESAMPLES, seed=seed
    )
    return _signal(index, signal, label, result, {i: (a[i], b[i]) for i in items if i in a and i in b})


def _signal(
    index: _Index,
    signal: str,
    label: str,
    result: PairedResult,
    values: Mapping[int, tuple[float, float]],
) -> SignalComparison:
    flips = sorted(values.items(), key=lambda kv: (-abs(kv[1][0] - kv[1][1]), kv[0]))
    a_better = [_flip(index, i, v) for i, v in flips if v[0] - v[1] > TIE_TOLERANCE][:MAX_FLIPS]
    b_better = [_flip(index, i, v) for i, v in flips if v[1] - v[0] > TIE_TOLERANCE][:MAX_FLIPS]
    return SignalComparison(signal, label, result, a_better, b_better)


def _flip(index: _Index, item: int, values: tuple[float, float]) -> Flip:
    return Flip(item, index.first_comparison[item], index.queries.get(item, ""), values[0], values[1])
