"""The experiment job (kind "experiment" of the job kernel, app/core/jobs): pending outputs through a
concurrency limit per endpoint, answers reused from the cache, results written in small batches, then scored
(and judged). Resumable at any point: every output row exists from the start and only pending ones are run;
the kernel runs one job per experiment at a time, in whichever process works the queue."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.comparisons.service import ComparisonRunner
from app.comparisons.specs import OutputJob
from app.experiments.repository import ExperimentRepository, PendingOutput
from app.experiments.service import FINISHED
from app.models import utcnow

log = logging.getLogger(__name__)

# A phase after generation (scoring, judging): gets the experiment id, returns when its work is done.
Phase = Callable[[int], Awaitable[None]]


class _BatchWriter:
    """Buffers finished outputs and writes them every `interval` seconds in one transaction: one commit per
    answer would cap throughput on SQLite. A kill loses at most the buffer, whose outputs stay pending and
    are run again on resume (never doubled: each output row exists once). A flush is never cancelled half
    way (that could leave a write transaction open): closing waits for the one in progress."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval: float):
        self.sessions = sessions
        self.interval = interval
        self.rows: list[dict[str, Any]] = []
        self._lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def put(self, row: dict[str, Any]) -> None:
        self.rows.append(row)

    async def flush(self) -> None:
        async with self._lock:
            rows, self.rows = self.rows, []
            if rows:
                async with self.sessions.begin() as session:
                    await ExperimentRepository(session).finish_many(rows)

    async def _loop(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self.interval)
            await self.flush()

    async def __aenter__(self) -> _BatchWriter:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            # Shielded: a cancelled run (shutdown) still lets the last flush finish cleanly.
            await asyncio.shield(self._task)
        await self.flush()


class ExperimentRunner:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        comparisons: ComparisonRunner,
        phases: tuple[tuple[str, Phase], ...] = (),
        *,
        flush_interval: float = 0.25,
        cancel_poll: float = 0.5,
    ):
        self.sessions = sessions
        self.comparisons = comparisons
        self.phases = phases
        self.flush_interval = flush_interval
        self.cancel_poll = cancel_poll

    async def unfinished(self) -> list[int]:
        """Experiments whose rows say they are not finished (the kernel's recovery enqueues them again)."""
        async with self.sessions() as session:
            return list(await ExperimentRepository(session).unfinished())

    async def run(self, experiment_id: int) -> None:
        try:
            async with self.sessions.begin() as session:
                repo = ExperimentRepository(session)
                experiment = await repo.get(experiment_id)
                if experiment is None or experiment.status in FINISHED:
                    return
                refresh = experiment.refresh
                await repo.set_status(experiment_id, "running", started_at=experiment.started_at or utcnow())
            if not await self._generate(experiment_id, refresh):
                return  # cancelled: finished outputs are kept, nothing more is asked
            async with self.sessions() as session:
                left = await ExperimentRepository(session).pending_count(experiment_id)
            if left:
                raise RuntimeError(f"{left} outputs are still pending after the run; resume to try them again")
            for status, phase in self.phases:
                if not await self._still(experiment_id, status):
                    return
                await phase(experiment_id)
            async with self.sessions.begin() as session:
                if await ExperimentRepository(session).status(experiment_id) not in FINISHED:
                    await ExperimentRepository(session).set_status(experiment_id, "succeeded", finished_at=utcnow())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("experiment %s failed", experiment_id)
            async with self.sessions.begin() as session:
                await ExperimentRepository(session).set_status(
                    experiment_id, "failed", error=f"{type(exc).__name__}: {exc}"[:2000], finished_at=utcnow()
                )

    async def _still(self, experiment_id: int, next_status: str) -> bool:
        """Move to the next phase unless the experiment was cancelled meanwhile."""
        async with self.sessions.begin() as session:
            repo = ExperimentRepository(session)
            if await repo.status(experiment_id) in FINISHED:
                return False
            await repo.set_status(experiment_id, next_status)
        return True

    async def _generate(self, experiment_id: int, refresh: bool) -> bool:
        """Fill every pending output; False if the experiment was cancelled on the way."""
        async with self.sessions() as session:
            pending = await ExperimentRepository(session).pending(experiment_id)
            cached = {} if refresh else await ExperimentRepository(session).cached(
                [p.cache_key for p in pending if p.cache_key]
            )
            to_run = [p for p in pending if p.cache_key not in cached]
            jobs = await self.comparisons.jobs(session, [(p.output_id, p.query, p.version_id) for p in to_run])
            limits = {
                p.endpoint_id: max(1, job.endpoint.max_concurrency) for p, job in zip(to_run, jobs, strict=True)
            }
        cancelled = asyncio.Event()
        async with _BatchWriter(self.sessions, self.flush_interval) as writer:
            for p in pending:
                if p.cache_key in cached:
                    writer.put(_cache_hit(p, cached[p.cache_key]))
            queues: dict[int, asyncio.Queue[OutputJob]] = defaultdict(asyncio.Queue)
            for p, job in zip(to_run, jobs, strict=True):
                queues[p.endpoint_id].put_nowait(job)
            watcher = asyncio.create_task(self._watch_cancel(experiment_id, cancelled))
            try:
                await asyncio.gather(
                    *(
                        self._worker(queue, writer, cancelled)
                        for endpoint_id, queue in queues.items()
                        for _ in range(limits[endpoint_id])
                    )
                )
            finally:
                watcher.cancel()
        return not cancelled.is_set()

    async def _worker(
        self, queue: asyncio.Queue[OutputJob], writer: _BatchWriter, cancelled: asyncio.Event
    ) -> None:
        while not cancelled.is_set():
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            writer.put({"id": job.output_id, **await self.comparisons.execute(job)})

    async def _watch_cancel(self, experiment_id: int, cancelled: asyncio.Event) -> None:
        """Cancel may come from any process (page, API, CLI): watch the row."""
        while True:
            await asyncio.sleep(self.cancel_poll)
            async with self.sessions() as session:
                if await ExperimentRepository(session).status(experiment_id) in FINISHED:
                    cancelled.set()
                    return


def _cache_hit(pending: PendingOutput, source: dict[str, Any]) -> dict[str, Any]:
    values = {k: v for k, v in source.items() if k != "id"}
    return {
        "id": pending.output_id,
        **values,
        "status": "done",
        "error": None,
        "cached_from_id": source["id"],
        "finished_at": utcnow(),
    }
