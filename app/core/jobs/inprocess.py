"""The embedded engine: jobs run as asyncio tasks of this process (the SQLite default: one process, and an
embedded Chroma that is not process-safe). Nothing is queued on disk here; the domain rows are the record,
and `JobKernel.recover` enqueues their unfinished work again at the next start."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from app.core.background import KeyedTasks
from app.core.jobs.kernel import JobKind, current_job

log = logging.getLogger(__name__)


class InProcessEngine:
    name = "in-process"

    def __init__(self) -> None:
        self._tasks: dict[str, KeyedTasks[None]] = {}
        self._kinds: dict[str, JobKind] = {}
        self._queues: set[str] | None = None  # queues this process works; None until work() is called
        self._waiting: dict[tuple[str, int], None] = {}  # enqueued before work() (kept in order)
        self._again: set[tuple[str, int]] = set()  # enqueued while running: run once more afterwards
        self._closed = False

    def define(self, kind: JobKind) -> None:
        self._kinds[kind.name] = kind
        self._tasks[kind.name] = KeyedTasks[None](kind.name)

    def _works(self, kind: JobKind) -> bool:
        return self._queues is not None and kind.queue in self._queues and not self._closed

    async def enqueue(self, kind: JobKind, key: int) -> None:
        if not self._works(kind):
            self._waiting[(kind.name, key)] = None
            return
        tasks = self._tasks[kind.name]
        if tasks.get(key) is not None:
            # A run is under way (perhaps just deciding it has nothing left to do): one more after it, so
            # work reopened meanwhile is not lost; never two at once.
            self._again.add((kind.name, key))
            return
        self._start(kind, key)

    def _start(self, kind: JobKind, key: int) -> None:
        task = self._tasks[kind.name].start(key, lambda: self._run(kind, key))
        task.add_done_callback(lambda t: self._after(kind, key, t))

    def _after(self, kind: JobKind, key: int, task: asyncio.Task[None]) -> None:
        if (kind.name, key) in self._again and not task.cancelled() and self._works(kind):
            self._again.discard((kind.name, key))
            self._start(kind, key)

    async def _run(self, kind: JobKind, key: int) -> None:
        current_job.set(kind.lock(key))  # the task's own context: no reset needed
        try:
            await kind.run(key)
        except asyncio.CancelledError:
            raise
        except Exception:
            # A job body records its own failures; reaching here is a bug, and the row stays unfinished so
            # the next start resumes it.
            log.exception("job %s failed outside its own error handling", kind.lock(key))

    async def cancel(self, kind: JobKind, key: int) -> None:
        self._waiting.pop((kind.name, key), None)
        self._again.discard((kind.name, key))

    async def work(self, queues: Sequence[str]) -> None:
        self._queues = (self._queues or set()) | set(queues)
        waiting, self._waiting = list(self._waiting), {}
        for name, key in waiting:
            await self.enqueue(self._kinds[name], key)

    async def counts(self) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for name, tasks in self._tasks.items():
            counts[(name, "running")] = len(tasks.running())
            counts[(name, "queued")] = sum(1 for n, _k in self._waiting if n == name)
        return counts

    async def oldest_queued_age_s(self) -> float | None:
        return None  # nothing waits here: a job starts when it is enqueued

    async def aclose(self) -> None:
        """Cancel the runs; their rows stay unfinished and resume at the next start."""
        self._closed = True
        for tasks in self._tasks.values():
            await tasks.cancel_all()
