"""The shared engine: procrastinate on PostgreSQL (https://procrastinate.readthedocs.io).

Why procrastinate: it is PostgreSQL-native (the deployment has no other service to run), async, and gives
what the kernel promises without code of ours: a `lock` per key (no two runs of one key at once, in any
process), a `queueing_lock` (enqueueing a key already queued is a no-op), abort (cancel reaches the worker
that runs the job, through LISTEN/NOTIFY), and worker heartbeats (a worker that stops beating is gone).

What we add is small: a job stopped by a graceful shutdown goes back to the queue (RequeueOnShutdown), and
a loop that hands the jobs of dead workers (no heartbeat for `lease_s`) back to the queue, one process at a
time (an advisory lock), as procrastinate's documentation describes for stalled jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

import procrastinate
from procrastinate.exceptions import AlreadyEnqueued, UniqueViolation
from procrastinate.jobs import Job, Status
from procrastinate.retry import BaseRetryStrategy, RetryDecision
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.jobs.kernel import JobKind, current_job

log = logging.getLogger(__name__)

# Any constant both processes agree on: the advisory lock that lets one process at a time requeue stalled jobs.
_STALLED_LOCK = 0x7472697074  # "tript"
# Engine statuses in the kernel's words.
_STATUS_WORDS = {"todo": "queued", "doing": "running", "succeeded": "succeeded", "failed": "failed",
                 "cancelled": "cancelled", "aborting": "running", "aborted": "cancelled"}


def conninfo(database_url: str) -> str:
    """The libpq connection string of a SQLAlchemy PostgreSQL URL."""
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class RequeueOnShutdown(BaseRetryStrategy):
    """A run cut short by its worker stopping (asyncio cancellation on shutdown) goes back to the queue at
    once. A cancel by a user is an abort request too, but procrastinate finishes an aborted job instead of
    requeueing it, so cancelled work stays cancelled. A job body that raises is a bug (bodies record their
    own failures): it is not retried."""

    def get_retry_decision(self, *, exception: BaseException, job: Job) -> RetryDecision | None:
        if isinstance(exception, asyncio.CancelledError):
            return RetryDecision(retry_in={"seconds": 0})
        return None


class ProcrastinateEngine:
    name = "procrastinate"

    def __init__(self, database_url: str, sql: AsyncEngine, *, lease_s: float, concurrency: int):
        self.lease_s = lease_s
        self.concurrency = concurrency
        self.sql = sql
        connector = procrastinate.PsycopgConnector(conninfo=conninfo(database_url), min_size=1, max_size=8)
        self.app = procrastinate.App(connector=connector)
        self._tasks: dict[str, Any] = {}
        self._worker: asyncio.Task[None] | None = None
        self._stalled: asyncio.Task[None] | None = None
        self._open = False

    async def open(self) -> None:
        await self.app.open_async()
        self._open = True

    def define(self, kind: JobKind) -> None:
        async def body(context: procrastinate.JobContext, key: int) -> None:
            token = current_job.set(f"{kind.name}:{key}#{context.job.id}")
            try:
                await kind.run(key)
            finally:
                current_job.reset(token)

        self._tasks[kind.name] = self.app.task(
            name=f"triptych.{kind.name}", queue=kind.queue, pass_context=True, retry=RequeueOnShutdown()
        )(body)

    async def enqueue(self, kind: JobKind, key: int) -> None:
        lock = kind.lock(key)
        with contextlib.suppress(AlreadyEnqueued):
            await self._tasks[kind.name].configure(lock=lock, queueing_lock=lock).defer_async(key=key)

    async def cancel(self, kind: JobKind, key: int) -> None:
        manager = self.app.job_manager
        for job in await manager.list_jobs_async(lock=kind.lock(key), status="todo"):
            if job.id is not None:
                await manager.cancel_job_by_id_async(job.id)

    async def work(self, queues: Sequence[str]) -> None:
        self._worker = asyncio.create_task(
            self.app.run_worker_async(
                queues=list(queues),
                concurrency=self.concurrency,
                install_signal_handlers=False,
                # Beats four times a lease: one late beat is not a death.
                update_heartbeat_interval=self.lease_s / 4,
                stalled_worker_timeout=self.lease_s,
                abort_job_polling_interval=min(5.0, self.lease_s / 4),
                # On stop, running jobs get a moment, then go back to the queue for another worker.
                shutdown_graceful_timeout=2.0,
            ),
            name="procrastinate-worker",
        )
        self._stalled = asyncio.create_task(self._requeue_stalled_forever(queues), name="stalled-jobs")

    async def _requeue_stalled_forever(self, queues: Sequence[str]) -> None:
        while True:
            await asyncio.sleep(self.lease_s / 2)
            try:
                await self.requeue_stalled(queues)
            except Exception:
                log.exception("requeueing stalled jobs failed; trying again")

    async def requeue_stalled(self, queues: Sequence[str] | None = None) -> list[int]:
        """Jobs running on a worker that stopped beating go back to the queue (the lock then lets the next
        run start). One process at a time, so two never requeue a job that a third has just taken."""
        manager = self.app.job_manager
        requeued: list[int] = []
        async with self.sql.connect() as conn:
            if not await conn.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": _STALLED_LOCK}):
                return requeued
            try:
                for job in await manager.get_stalled_jobs(seconds_since_heartbeat=self.lease_s):
                    if queues is not None and job.queue not in queues:
                        continue
                    assert job.id is not None
                    try:
                        await manager.retry_job(job)
                        log.warning("job %s#%s lost its worker; back to the queue", job.task_name, job.id)
                    except UniqueViolation:
                        # The same key is queued again already (recovery at a start, a resume): that job
                        # carries the work on; this one is closed.
                        await manager.finish_job(job, status=Status.ABORTED, delete_job=False)
                        log.warning("job %s#%s lost its worker; its key is queued again", job.task_name, job.id)
                    requeued.append(job.id)
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _STALLED_LOCK})
                await conn.commit()
        return requeued

    async def counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        async with self.sql.connect() as conn:
            rows = await conn.execute(
                text("SELECT task_name, status::text, count(*) FROM procrastinate_jobs GROUP BY 1, 2")
            )
            for task_name, status, n in rows:
                key = (str(task_name).removeprefix("triptych."), _STATUS_WORDS.get(status, status))
                counts[key] = counts.get(key, 0) + int(n)
        return counts

    async def oldest_queued_age_s(self) -> float | None:
        async with self.sql.connect() as conn:
            age = await conn.scalar(
                text(
                    "SELECT extract(epoch FROM now() - min(e.at)) FROM procrastinate_jobs j "
                    "JOIN procrastinate_events e ON e.job_id = j.id AND e.type = 'deferred' "
                    "WHERE j.status = 'todo' AND (j.scheduled_at IS NULL OR j.scheduled_at <= now())"
                )
            )
        return None if age is None else float(age)

    async def aclose(self) -> None:
        for task in (self._stalled, self._worker):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._open:
            await self.app.close_async()
            self._open = False
