"""The experiments' rules: what a run is made of (created whole, up front), its progress, cancel and resume."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.service import EndpointService, VariantService, current_version
from app.core.auth import BACKGROUND
from app.core.errors import Conflict, Invalid, NotFound
from app.core.jobs import FINISHED_STATUSES
from app.core.repository import is_active
from app.core.secrets import KeyCipher
from app.core.types import as_utc
from app.datasets.service import DatasetService
from app.experiments.repository import Counts, ExperimentRepository
from app.experiments.schemas import MAX_OUTPUTS, ExperimentIn
from app.models import DatasetItem, Experiment, ExperimentVariant, VariantVersion, utcnow

FINISHED = FINISHED_STATUSES  # the job kernel's one vocabulary
# Outputs written per batch when an experiment is created: a few tens of ms of work each, with the event loop
# free in between (a 20,000-output experiment would otherwise hold it for a second or more).
INSERT_BATCH = 1_000


def cache_key(version: VariantVersion, query: str, sample: int) -> str:
    """The response cache's key: the recipe's hash, the input, the decoding parameters and the sample index
    (so repeats are separate samples, and a re-run of the same sample reuses the answer)."""
    material = {
        "config": version.config_hash,
        "query": query,
        "temperature": version.temperature,
        "top_p": version.top_p,
        "max_tokens": version.max_tokens,
        "sample": sample,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Progress:
    counts: Counts
    judge_total: int
    throughput_per_min: float | None
    eta_s: float | None


def progress_of(counts: Counts, judge_total: int, started_at: datetime | None, now: datetime) -> Progress:
    """Throughput over the last minute (or since the start, when younger), and the time left at that pace."""
    window = 60.0
    if started_at is not None:
        window = min(window, max(1.0, (now - as_utc(started_at)).total_seconds()))
    throughput = counts.recent / window * 60 if counts.recent else None
    eta = counts.pending / (throughput / 60) if throughput and counts.pending else (0.0 if not counts.pending else None)
    return Progress(counts, judge_total, None if throughput is None else round(throughput, 1), eta)


@dataclass(frozen=True)
class ExperimentOverview:
    experiment: Experiment
    versions: list[VariantVersion]
    progress: Progress


class ExperimentService:
    def __init__(self, session: AsyncSession, cipher: KeyCipher):
        self.session = session
        self.cipher = cipher
        self.repo = ExperimentRepository(session)

    async def create(self, data: ExperimentIn, created_by: str) -> Experiment:
        """The experiment with every comparison and pending output it will need, in one transaction: a run
        only fills rows in, so a crash can neither lose nor double one."""
        try:
            summary = await DatasetService(self.session, BACKGROUND).summary(data.dataset_id)
        except NotFound:
            raise Invalid(f"dataset_id: dataset {data.dataset_id} not found") from None
        if not is_active(summary.dataset):
            raise Invalid(f"dataset_id: dataset {data.dataset_id} is archived")
        items = await DatasetService(self.session, BACKGROUND).items(summary.version.id)
        if not items:
            raise Invalid(f"dataset_id: dataset {summary.dataset.name!r} has no items")
        variants = await VariantService(self.session).for_comparison(data.variant_ids)
        if not variants:
            raise Invalid("variant_ids: there are no active variants; create one first")
        if data.judge_endpoint_id is not None:
            try:
                judge = await EndpointService(self.session, self.cipher, allow_private=True).get(data.judge_endpoint_id)
            except NotFound:
                judge = None
            if judge is None or not is_active(judge):
                raise Invalid(f"judge_endpoint_id: endpoint {data.judge_endpoint_id} is not an active endpoint")
        versions = [current_version(v) for v in variants]
        outputs = len(items) * len(versions) * data.repeats
        if outputs > MAX_OUTPUTS:
            raise Invalid(
                f"an experiment makes at most {MAX_OUTPUTS:,} outputs (items x variants x repeats); this one would "
                f"make {outputs:,} ({len(items):,} x {len(versions)} x {data.repeats}): use fewer items, "
                "variants or repeats"
            )
        name = data.name.strip() or f"{summary.dataset.name} v{summary.version.version} x {len(versions)} variants"
        experiment = Experiment(
            name=name,
            dataset_version_id=summary.version.id,
            repeats=data.repeats,
            refresh=data.refresh,
            judge_endpoint_id=data.judge_endpoint_id,
            created_by=created_by,
            variants=[ExperimentVariant(variant_version_id=v.id, position=i) for i, v in enumerate(versions)],
        )
        self.repo.add(experiment)
        await self.session.flush()
        now = utcnow()
        runs = [(item, sample) for item in items for sample in range(data.repeats)]
        per_batch = max(1, INSERT_BATCH // len(versions))
        for start in range(0, len(runs), per_batch):
            batch = runs[start : start + per_batch]
            await self._write_runs(experiment, summary.dataset.name, versions, batch, now)
            await asyncio.sleep(0)  # other requests get the loop between batches
        return await self.get(experiment.id)

    async def _write_runs(
        self,
        experiment: Experiment,
        dataset_name: str,
        versions: Sequence[VariantVersion],
        runs: Sequence[tuple[DatasetItem, int]],
        now: datetime,
    ) -> None:
        """Comparisons for these (item, sample) runs, their tags and a pending output per variant, in
        multi-row inserts."""
        comparison_ids = await self.repo.insert_comparisons(
            [
                {
                    "query": item.query,
                    "created_by": experiment.created_by,
                    "dataset": dataset_name,
                    "experiment_id": experiment.id,
                    "dataset_item_id": item.id,
                    "sample": sample,
                    "created_at": now,
                }
                for item, sample in runs
            ]
        )
        await self.repo.insert_tags(
            [
                {"comparison_id": cid, "tag": tag}
                for cid, (item, _sample) in zip(comparison_ids, runs, strict=True)
                for tag in dict.fromkeys(item.tags)
            ]
        )
        await self.repo.insert_outputs(
            [
                {
                    "comparison_id": cid,
                    "variant_version_id": v.id,
                    "position": position,
                    "status": "pending",
                    "text": "",
                    "truncated": False,
                    "model": "",
                    "contexts": [],
                    "prompt": [],
                    "cache_key": cache_key(v, item.query, sample),
                    "created_at": now,
                }
                for cid, (item, sample) in zip(comparison_ids, runs, strict=True)
                for position, v in enumerate(versions)
            ]
        )

    async def get(self, experiment_id: int) -> Experiment:
        experiment = await self.repo.get(experiment_id)
        if experiment is None:
            raise NotFound(f"experiment {experiment_id} not found")
        return experiment

    async def recent(self, *, limit: int = 100, offset: int = 0) -> Sequence[Experiment]:
        return await self.repo.recent(limit=limit, offset=offset)

    async def overview(self, experiment: Experiment | int) -> ExperimentOverview:
        """The experiment (or the one with this id) with its variant versions and live progress."""
        if isinstance(experiment, int):
            experiment = await self.get(experiment)
        return (await self.overviews([experiment]))[0]

    async def overviews(self, experiments: Sequence[Experiment]) -> list[ExperimentOverview]:
        """Each experiment with its variant versions and progress, in a fixed number of queries."""
        now = utcnow()
        counts = await self.repo.counts_of([e.id for e in experiments], now)
        versions = await self.repo.versions([v.variant_version_id for e in experiments for v in e.variants])
        return [
            ExperimentOverview(
                e, [versions[v.variant_version_id] for v in e.variants], self._progress(e, counts[e.id], now)
            )
            for e in experiments
        ]

    @staticmethod
    def _progress(experiment: Experiment, counts: Counts, now: datetime) -> Progress:
        judge_total = 0
        if experiment.judge_endpoint_id is not None:
            pairs = len(experiment.variants) * (len(experiment.variants) - 1) // 2
            judge_total = pairs * (counts.total // max(1, len(experiment.variants)))
        if experiment.status in FINISHED:
            # Nothing is running: there is no pace and no time left to speak of.
            return Progress(counts, judge_total, None, None)
        return progress_of(counts, judge_total, experiment.started_at, now)

    async def cancel(self, experiment_id: int) -> Experiment:
        """Stop new model calls (a running worker sees it within a second); finished outputs stay."""
        experiment = await self.get(experiment_id)
        if experiment.status in FINISHED:
            raise Conflict(f"experiment {experiment_id} is already {experiment.status}")
        await self.repo.set_status(experiment_id, "cancelled", finished_at=utcnow())
        self.session.expunge(experiment)
        return await self.get(experiment_id)

    async def reopen(self, experiment_id: int, *, refresh: bool | None = None) -> Experiment:
        """Queue a cancelled or failed experiment again: only its pending outputs are run."""
        experiment = await self.get(experiment_id)
        if experiment.status not in ("cancelled", "failed"):
            if experiment.status == "succeeded":
                raise Conflict(f"experiment {experiment_id} has succeeded; start a new one to ask again")
            return experiment  # queued or running: the runner picks it up (or already has)
        values: dict[str, object] = {"error": None, "finished_at": None}
        if refresh is not None:
            values["refresh"] = refresh
        await self.repo.set_status(experiment_id, "queued", **values)
        self.session.expunge(experiment)
        return await self.get(experiment_id)
