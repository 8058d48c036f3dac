"""Training sets and fine-tuning jobs as the API and pages show them."""

from __future__ import annotations

from dataclasses import dataclass

from app.evaluation.metrics import METRIC_LABELS
from app.finetune.schemas import FineTuneJobOut, LossPoint, TrainingExampleOut, TrainingSetOut
from app.finetune.service import JobSummary, TrainingSetSummary
from app.models import FineTuneJob, TrainingExample
from app.verdict.evidence import Estimate, Evidence, Verdict


def example_out(row: TrainingExample) -> TrainingExampleOut:
    return TrainingExampleOut(
        position=row.position,
        split=row.split,
        prompt=row.prompt,
        completion=row.completion,
        rejected=row.rejected,
        source_kind=row.source_kind,
        source_id=row.source_id,
        comparison_id=row.comparison_id,
    )


def training_set_out(summary: TrainingSetSummary) -> TrainingSetOut:
    t = summary.training_set
    return TrainingSetOut(
        id=t.id,
        name=t.name,
        example_set_id=t.example_set_id,
        include_corrections=t.include_corrections,
        include_top_rated=t.include_top_rated,
        min_score=t.min_score,
        system_prompt=t.system_prompt,
        validation_fraction=t.validation_fraction,
        seed=t.seed,
        knowledge_base_id=t.knowledge_base_id,
        top_k=t.top_k,
        train_count=summary.train_count,
        validation_count=summary.validation_count,
        duplicates_dropped=t.duplicates_dropped,
        sources=summary.sources,
        created_by=t.created_by,
        created_at=t.created_at,
        preview=[example_out(r) for r in summary.preview],
    )


def eta_s(job: FineTuneJob) -> float | None:
    """Time left at the pace so far (training only; loading and conversion are not counted)."""
    if job.status != "running" or not job.total_steps or job.step <= 0 or job.train_seconds <= 0:
        return None
    return round(job.train_seconds / job.step * max(0, job.total_steps - job.step), 1)


def job_out(summary: JobSummary) -> FineTuneJobOut:
    job = summary.job
    return FineTuneJobOut(
        id=job.id,
        training_set_id=job.training_set_id,
        training_set_name=summary.training_set_name,
        backend=job.backend,
        endpoint_id=job.endpoint_id,
        base_model=job.base_model,
        hyperparameters=job.hyperparameters,
        status=job.status,
        step=job.step,
        total_steps=job.total_steps,
        epoch=job.epoch,
        losses=[LossPoint(step=s, loss=v) for s, v in job.losses],
        validation_losses=[LossPoint(step=e, loss=v) for e, v in job.validation_losses],
        eta_s=eta_s(job),
        error=job.error,
        external_id=job.external_id,
        result_model=job.result_model,
        result_endpoint_id=job.result_endpoint_id,
        evaluation_dataset_id=job.evaluation_dataset_id,
        evaluation_experiment_id=job.evaluation_experiment_id,
        resumed=job.resumed,
        created_by=job.created_by,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
    )


# What a fine-tune is for, and what it can cost: before and after on each.
EVALUATED_METRICS = ("format", "key_facts", "similarity", "token_f1")


@dataclass(frozen=True)
class MetricChange:
    label: str
    before: Estimate
    after: Estimate


@dataclass(frozen=True)
class FineTuneEvaluation:
    """The before/after experiment, read off its verdict: gains on the validation split, and the general
    probes the base answered and the fine-tune no longer does (named one by one)."""

    experiment_id: int
    changes: list[MetricChange]
    probes_total: int
    probes_before: int
    probes_after: int
    forgotten: list[str]
    learned: list[str]
    recommendation: list[str]


def evaluation_of(verdict: Verdict, evidence: Evidence) -> FineTuneEvaluation | None:
    tuned = [v for v in verdict.variants if v.variant.fine_tuned]
    base = [v for v in verdict.variants if not v.variant.fine_tuned]
    if not tuned or not base:
        return None
    after, before = tuned[0], base[0]
    changes = [
        MetricChange(METRIC_LABELS.get(name, name), before.metrics[name], after.metrics[name])
        for name in EVALUATED_METRICS
        if name in before.metrics and name in after.metrics
    ]
    probes = after.probes
    return FineTuneEvaluation(
        verdict.experiment_id,
        changes,
        probes.total if probes else 0,
        before.probes.correct if before.probes else 0,
        probes.correct if probes else 0,
        [evidence.queries.get(i, f"item {i}") for i in (probes.lost if probes else ())],
        [evidence.queries.get(i, f"item {i}") for i in (probes.gained if probes else ())],
        list(verdict.recommendation),
    )
