"""Experiments as the API and pages show them."""

from __future__ import annotations

from app.experiments.schemas import ExperimentOut, ExperimentVariantOut, ProgressOut
from app.experiments.service import ExperimentOverview, Progress


def progress_out(progress: Progress) -> ProgressOut:
    c = progress.counts
    return ProgressOut(
        total=c.total,
        done=c.done,
        errors=c.errors,
        cached=c.cached,
        pending=c.pending,
        scored=c.scored,
        judged=c.judged,
        judge_total=progress.judge_total,
        throughput_per_min=progress.throughput_per_min,
        eta_s=None if progress.eta_s is None else round(progress.eta_s, 1),
        last_answer_at=c.last_answer_at,
    )


def experiment_out(overview: ExperimentOverview) -> ExperimentOut:
    experiment, versions, progress = overview.experiment, overview.versions, overview.progress
    version = experiment.dataset_version
    return ExperimentOut(
        id=experiment.id,
        name=experiment.name,
        status=experiment.status,
        dataset={"id": version.dataset_id, "name": version.dataset.name, "version": version.version},
        variants=[
            ExperimentVariantOut(
                id=v.variant_id, name=v.variant.name, strategy=v.variant.strategy, version=v.version, version_id=v.id
            )
            for v in versions
        ],
        repeats=experiment.repeats,
        refresh=experiment.refresh,
        judge_endpoint_id=experiment.judge_endpoint_id,
        items=progress.counts.total // max(1, len(versions) * experiment.repeats),
        progress=progress_out(progress),
        error=experiment.error,
        created_by=experiment.created_by,
        created_at=experiment.created_at,
        started_at=experiment.started_at,
        finished_at=experiment.finished_at,
    )
