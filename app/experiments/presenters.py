"""Experiments as the API and pages show them."""

from __future__ import annotations

from collections.abc import Sequence

from app.experiments.schemas import ExperimentOut, ExperimentVariantOut, ProgressOut
from app.experiments.service import ExperimentService, Progress
from app.models import Experiment, VariantVersion


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


def experiment_out(experiment: Experiment, versions: Sequence[VariantVersion], progress: Progress) -> ExperimentOut:
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


async def experiment_view(service: ExperimentService, experiment: Experiment | int) -> ExperimentOut:
    """The experiment (or the one with this id) with its variants and live progress."""
    if isinstance(experiment, int):
        experiment = await service.get(experiment)
    versions = await service.variant_versions(experiment)
    return experiment_out(experiment, versions, await service.progress(experiment))
