"""The one job kernel: every kind of background work (ingestion, experiments, fine-tuning) is defined here
once, enqueued by key, run at most once at a time, cancelled from any process and recovered when its owner
is gone. Which engine runs the jobs depends on the database (`open_kernel`): procrastinate on PostgreSQL,
asyncio tasks in this process on the embedded SQLite default.

A job's outcome lives on its domain row (an experiment, an ingest job, a fine-tuning job), in one vocabulary
(JOB_STATUSES); the engine only guarantees who runs it and when. A job body therefore never raises for a
failure of the work itself: it records the failure on its row and returns.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)

# The job this task works for ("experiment:12#345": kind, key, engine job id), for every log line it writes.
current_job: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_job", default=None)

# One status vocabulary for every job's row. Experiments add two phases of `running`: scoring, judging.
QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED = "queued", "running", "succeeded", "failed", "cancelled"
JOB_STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED)
FINISHED_STATUSES = (SUCCEEDED, FAILED, CANCELLED)


@dataclass(frozen=True)
class JobKind:
    """A kind of background work. `run(key)` does (or carries on) the work for one domain row and returns
    when it is finished or cancelled; it must be safe to call again after a crash at any point (work already
    stored is skipped). `unfinished()` lists the keys whose rows say the work is not finished: recovery
    enqueues them again (idempotently, so a key a live worker holds is not run twice)."""

    name: str
    queue: str
    run: Callable[[int], Awaitable[None]]
    unfinished: Callable[[], Awaitable[Sequence[int]]]

    def lock(self, key: int) -> str:
        """The key's identity in the engine: one queued and one running job per lock at most."""
        return f"{self.name}:{key}"


class JobEngine(Protocol):
    """What runs jobs: in this process, or on a shared queue."""

    name: str

    def define(self, kind: JobKind) -> None: ...

    async def enqueue(self, kind: JobKind, key: int) -> None:
        """Queue the key's job unless it is already queued; never a second concurrent run."""

    async def cancel(self, kind: JobKind, key: int) -> None:
        """Withdraw the key's job if it still waits in the queue. A running job is stopped by its row: the
        caller has marked it cancelled, and the body (in whichever process) sees that and stops on its own
        terms (a trainer killed, a hosted job cancelled on its API, finished outputs kept)."""

    async def work(self, queues: Sequence[str]) -> None:
        """Start working jobs of these queues in this process, in the background."""

    async def counts(self) -> dict[tuple[str, str], int]:
        """Jobs by (kind, engine status), for metrics."""

    async def oldest_queued_age_s(self) -> float | None:
        """Seconds the oldest queued job has waited, for metrics."""

    async def aclose(self) -> None:
        """Stop working; jobs running here go back to the queue (or resume at the next start)."""


class UnknownJobKind(LookupError):
    pass


class JobKernel:
    """The single entry point for background work: domains enqueue and cancel by kind name and key."""

    def __init__(self, engine: JobEngine):
        self.engine = engine
        self.kinds: dict[str, JobKind] = {}
        self.working: set[str] = set()  # queues this process works

    def define(
        self,
        name: str,
        queue: str,
        run: Callable[[int], Awaitable[None]],
        unfinished: Callable[[], Awaitable[Sequence[int]]],
    ) -> JobKind:
        kind = JobKind(name, queue, run, unfinished)
        self.kinds[name] = kind
        self.engine.define(kind)
        return kind

    def kind(self, name: str) -> JobKind:
        try:
            return self.kinds[name]
        except KeyError:
            raise UnknownJobKind(f"no job kind {name!r} (known: {', '.join(sorted(self.kinds))})") from None

    @property
    def queues(self) -> list[str]:
        return sorted({k.queue for k in self.kinds.values()})

    async def enqueue(self, name: str, key: int) -> None:
        await self.engine.enqueue(self.kind(name), key)

    async def cancel(self, name: str, key: int) -> None:
        """After the row says cancelled (committed): a job still queued is withdrawn."""
        await self.engine.cancel(self.kind(name), key)

    async def recover(self, queues: Sequence[str] | None = None) -> dict[str, list[int]]:
        """Enqueue again every unfinished job of these queues' kinds. Idempotent: a job queued already stays
        one job, and one a live worker runs is not run beside it (the engine's lock). Work whose owner died
        without a trace (a killed in-process run; a SIGKILLed worker, once its lease lapses) carries on."""
        resumed: dict[str, list[int]] = {}
        for kind in self.kinds.values():
            if queues is not None and kind.queue not in queues:
                continue
            keys = list(await kind.unfinished())
            for key in keys:
                await self.engine.enqueue(kind, key)
            if keys:
                resumed[kind.name] = keys
        return resumed

    async def work(self, queues: Sequence[str] | None = None) -> None:
        """Work these queues (every queue when None) in this process, besides any it works already."""
        unknown = set(queues or ()) - set(self.queues)
        if unknown:
            raise UnknownJobKind(f"no queue named {', '.join(sorted(unknown))} (queues: {', '.join(self.queues)})")
        new = sorted(set(queues if queues is not None else self.queues) - self.working)
        if new:
            self.working |= set(new)
            await self.engine.work(new)

    async def aclose(self) -> None:
        await self.engine.aclose()
