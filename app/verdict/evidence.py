"""What a verdict is computed from (loaded by the repository) and what it says (built by the analysis):
plain data, so the statistics and the wording are tested on constructed results without a database."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from app.stats.paired import PairedResult


@dataclass(frozen=True)
class VariantInfo:
    version_id: int
    variant_id: int
    name: str
    strategy: str  # few_shot | rag | fine_tuned | rag_fine_tuned
    fine_tuned: bool  # its endpoint serves a real fine-tune (not the base model standing in)


@dataclass(frozen=True)
class OutputEvidence:
    output_id: int
    comparison_id: int
    item_id: int
    sample: int
    version_id: int
    ok: bool  # answered (status done); an error has `error`
    error: str | None
    probe: bool  # the item is a general-knowledge probe
    latency_ms: float | None
    ttft_ms: float | None
    wait_ms: float | None
    cost_usd: float | None
    cached: bool
    pending: bool = False  # not answered yet (the experiment is still running, or was cancelled)
    # metric name -> (value, reason); value None only with a reason
    metrics: Mapping[str, tuple[float | None, str]] = field(default_factory=dict)
    # each rater's mean rubric score (1-5) for this output
    human_scores: Sequence[float] = ()


@dataclass(frozen=True)
class HumanRanking:
    comparison_id: int
    rater: str
    ranks: Mapping[int, int]  # version id -> rank (1 = best; equal ranks tie)


@dataclass(frozen=True)
class JudgeEvidence:
    comparison_id: int
    a_version_id: int
    b_version_id: int
    outcome: int  # +1: a better, -1: b better, 0: tie or inconsistent
    consistent: bool
    error: bool  # the judge could not be asked (excluded from every figure)


@dataclass(frozen=True)
class Evidence:
    experiment_id: int
    variants: Sequence[VariantInfo]
    outputs: Sequence[OutputEvidence]
    rankings: Sequence[HumanRanking]
    judge: Sequence[JudgeEvidence]
    has_judge: bool
    repeats: int
    queries: Mapping[int, str]  # item id -> query
    comparisons: Mapping[tuple[int, int], int]  # (item id, sample) -> comparison id


@dataclass(frozen=True)
class Estimate:
    """A mean over items with its 95% interval (None where undefined: no items, or one)."""

    mean: float | None
    lower: float | None
    upper: float | None
    n: int  # items with a value
    missing: int = 0  # outputs that could not be scored
    missing_reason: str = ""  # the most common reason they could not
    spread: float | None = None  # with repeats: mean over items of the std dev between samples


@dataclass(frozen=True)
class Strength:
    """Bradley-Terry log-strength with a bootstrap 95% interval and P(best), from human rankings."""

    strength: float
    lower: float
    upper: float
    p_best: float
    ratings: int


@dataclass(frozen=True)
class ProbeResult:
    total: int
    correct: int  # probes whose key facts are all present (averaged over samples: correct in most)
    baseline: str | None  # the variant compared against (None for the baseline itself)
    lost: Sequence[int]  # item ids the baseline got right and this variant got wrong
    gained: Sequence[int]


@dataclass(frozen=True)
class VariantVerdict:
    variant: VariantInfo
    outputs: int
    errors: int
    cached: int
    metrics: Mapping[str, Estimate]  # every metric name, probes excluded (except for correctness)
    human_score: Estimate | None  # mean rubric score 1-5; None without ratings
    strength: Strength | None  # None without rankings
    judge_win_rate: Estimate | None  # wins + half ties over judged pairs; None without a judge
    latency_p50: float | None
    latency_p95: float | None
    ttft_p50: float | None
    wait_p50: float | None
    cost_per_1k: float | None  # USD per 1,000 queries; None when the price is unknown
    probes: ProbeResult | None  # None when the dataset has no probes


@dataclass(frozen=True)
class Agreement:
    """How far to trust the judge: its agreement with the human raters on pairwise preferences."""

    judged_pairs: int
    inconsistency_rate: float | None  # share of pairs where the two orders disagreed
    kappa: float | None  # Cohen's kappa, judge vs human majority, over pairs both judged
    alpha: float | None  # Krippendorff's alpha (ordinal), humans and judge as raters together
    shared_pairs: int  # pairs with both a judge verdict and at least one human preference


@dataclass(frozen=True)
class Flip:
    item_id: int
    comparison_id: int
    query: str
    a_value: float
    b_value: float


@dataclass(frozen=True)
class SignalComparison:
    signal: str  # "human", "judge" or a metric name
    label: str
    result: PairedResult
    a_better: Sequence[Flip]  # items where A beat B on this signal
    b_better: Sequence[Flip]


@dataclass(frozen=True)
class PairedComparison:
    a: VariantInfo
    b: VariantInfo
    signals: Sequence[SignalComparison]


@dataclass(frozen=True)
class Verdict:
    experiment_id: int
    variants: Sequence[VariantVerdict]
    agreement: Agreement | None  # None without a judge
    primary: str  # the quality signal the recommendation leans on ("human", "judge" or a metric name)
    recommendation: Sequence[str]  # plain-language sentences, strongest evidence first
    enough_evidence: bool  # False when the leading variants' intervals overlap on the primary signal
