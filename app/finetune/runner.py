"""The fine-tuning job (kind "finetune" of the job kernel, app/core/jobs): the backend trains, progress goes
to the job row, and a finished model is published (an endpoint, repointed variants) and evaluated against its
base.

Survives restarts and lost workers: the kernel runs the job again — the local worker carries on from its
last epoch checkpoint, a hosted job is polled again by its id."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.auth import BACKGROUND
from app.core.settings import BUNDLED_MODEL_ID
from app.finetune.backends import BackendRegistry, JobSpec, Trained, TrainingFailed
from app.finetune.publishing import Publisher
from app.finetune.repository import JobRepository, TrainingSetRepository
from app.finetune.schemas import FINISHED_JOBS
from app.finetune.service import chat_messages
from app.models import FineTuneJob, utcnow

log = logging.getLogger(__name__)

# Progress is written at most this often (a step can take a tenth of a second on a tiny set).
WRITE_EVERY_S = 1.0
# Creates the evaluation experiment in the given transaction: (session, dataset id, variant ids, name) -> id.
CreateExperiment = Callable[[AsyncSession, int, list[int], str], Awaitable[int]]
# Enqueues an experiment whose rows are committed.
StartExperiment = Callable[[int], Awaitable[None]]


def local_model_id(job_id: int) -> str:
    return f"{BUNDLED_MODEL_ID}-ft-{job_id}"


class _RowEvents:
    """A backend's reports, written to the job row (throttled); cancel is read from the row."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], job: FineTuneJob):
        self.sessions = sessions
        self.job_id = job.id
        self.losses: list[list[float]] = [list(p) for p in job.losses]
        self.validation_losses: list[list[float]] = [list(p) for p in job.validation_losses]
        self.values: dict[str, Any] = {}
        self.base_seconds = job.train_seconds
        self._written = 0.0
        self._cancelled = False

    async def _write(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._written < WRITE_EVERY_S:
            return
        self._written = now
        values = self.values | {"losses": self.losses, "validation_losses": self.validation_losses}
        async with self.sessions.begin() as session:
            if not await JobRepository(session).update_unless_finished(self.job_id, **values):
                self._cancelled = True

    async def started(self, *, total_steps: int | None, external_id: str | None = None) -> None:
        self.values["total_steps"] = total_steps
        if external_id is not None:
            self.values["external_id"] = external_id
        await self._write(force=True)

    async def resumed_at(self, step: int) -> None:
        # Steps after the checkpoint are trained again: their old points would draw the curve twice.
        self.losses = [p for p in self.losses if p[0] <= step]
        self.values["step"] = step
        await self._write(force=True)

    async def step(self, step: int, loss: float | None, *, epoch: float | None = None, seconds: float | None = None) -> None:
        if loss is not None:
            self.losses.append([step, loss])
        self.values["step"] = step
        if epoch is not None:
            self.values["epoch"] = epoch
        if seconds is not None:
            self.values["train_seconds"] = round(self.base_seconds + seconds, 1)
        await self._write()

    async def validation(self, epoch: float, loss: float) -> None:
        self.validation_losses.append([epoch, loss])
        await self._write(force=True)

    async def cancelled(self) -> bool:
        if self._cancelled:
            return True
        async with self.sessions() as session:
            self._cancelled = await JobRepository(session).status(self.job_id) in FINISHED_JOBS
        return self._cancelled

    async def flush(self) -> None:
        await self._write(force=True)


class FineTuneRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        backends: BackendRegistry,
        publisher: Publisher,
        workdir: Path,
        create_experiment: CreateExperiment,
        start_experiment: StartExperiment,
    ):
        self.sessions = sessions
        self.backends = backends
        self.publisher = publisher
        self.workdir = workdir
        self.create_experiment = create_experiment
        self.start_experiment = start_experiment

    async def unfinished(self) -> list[int]:
        """Jobs whose rows say they are not finished (the kernel's recovery enqueues them again)."""
        async with self.sessions() as session:
            return list(await JobRepository(session).unfinished())

    async def run(self, job_id: int) -> None:
        try:
            spec, events = await self._begin(job_id)
            if spec is None or events is None:
                return
            trained = await self.backends.get(spec.backend).train(spec, events)
            await events.flush()
            if trained is None:
                return  # cancelled
            await self._finish(job_id, trained)
        except asyncio.CancelledError:
            raise
        except TrainingFailed as exc:
            await self._fail(job_id, str(exc))
        except Exception as exc:
            log.exception("fine-tuning job %s failed", job_id)
            await self._fail(job_id, f"{type(exc).__name__}: {exc}")

    async def _begin(self, job_id: int) -> tuple[JobSpec | None, _RowEvents | None]:
        async with self.sessions.begin() as session:
            jobs = JobRepository(session)
            job = await jobs.get(job_id)
            if job is None or job.status in FINISHED_JOBS:
                return None, None
            training_set = await TrainingSetRepository(session, BACKGROUND).get(job.training_set_id)
            assert training_set is not None
            rows = await TrainingSetRepository(session, BACKGROUND).rows(training_set.id)
            resumed = job.status == "running"
            await jobs.update(
                job_id,
                status="running",
                started_at=job.started_at or utcnow(),
                resumed=job.resumed + (1 if resumed else 0),
            )
            await session.refresh(job)
            endpoint = await self.publisher.endpoint_config(session, job.endpoint_id) if job.endpoint_id else None
            spec = JobSpec(
                job_id=job.id,
                backend=job.backend,
                base_model=job.base_model,
                hyperparameters=job.hyperparameters,
                train=[chat_messages(training_set.system_prompt, r.prompt, r.completion) for r in rows if r.split == "train"],
                validation=[
                    chat_messages(training_set.system_prompt, r.prompt, r.completion) for r in rows if r.split == "validation"
                ],
                workdir=self.workdir / f"job-{job.id}",
                model_id=local_model_id(job.id),
                endpoint=endpoint,
                external_id=job.external_id,
            )
            return spec, _RowEvents(self.sessions, job)

    async def _finish(self, job_id: int, trained: Trained) -> None:
        async with self.sessions.begin() as session:
            job = await JobRepository(session).get(job_id)
            if job is None or job.status in FINISHED_JOBS:
                return
            published = await self.publisher.publish(session, job, trained)
            experiment_id = None
            if job.evaluation_dataset_id is not None:
                # In the same transaction: a job is never seen succeeded without its evaluation.
                experiment_id = await self.create_experiment(
                    session,
                    job.evaluation_dataset_id,
                    [published.base_variant_id, published.tuned_variant_id],
                    f"Fine-tune #{job_id}: before vs after",
                )
            await JobRepository(session).update(
                job_id,
                status="succeeded",
                result_model=trained.model_id,
                result_endpoint_id=published.endpoint_id,
                evaluation_experiment_id=experiment_id,
                finished_at=utcnow(),
                epoch=job.hyperparameters.get("epochs", job.epoch),
            )
        if experiment_id is not None:
            await self.start_experiment(experiment_id)

    async def _fail(self, job_id: int, reason: str) -> None:
        async with self.sessions.begin() as session:
            jobs = JobRepository(session)
            if await jobs.status(job_id) not in FINISHED_JOBS:
                await jobs.update(job_id, status="failed", error=reason[:2000], finished_at=utcnow())
