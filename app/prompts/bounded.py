"""The one path for user-written templates: sandboxed, off the event loop, in a time budget, on copies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import subprocess
import sys
import threading
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from app.prompts.worker import READY

DEFAULT_BUDGET_S = 2.0
# A worker's Python and jinja2 start in ~0.1 s; this only bounds a machine too busy to start one at all.
START_TIMEOUT_S = 30.0
SAMPLE_QUERY = "How many days?"
SAMPLE_CONTEXTS = [
    {"source": "handbook.md", "heading": "Leave", "text": "New staff get 22 days.", "score": 0.9}
]
# The folder holding the `app` package: the worker imports app.prompts.worker from there, whatever the cwd.
_ROOT = Path(__file__).resolve().parents[2]


class _Timeout(Exception):
    pass


class _Gone(Exception):
    """The worker process exited (killed, out of memory, crashed)."""


class _Worker:
    """One worker process and the thread-side end of its pipes; used by one thread at a time."""

    def __init__(self, budget_s: float):
        # Threads cannot be killed, processes can. A fresh interpreter (not a fork of this threaded process)
        # that finds what this one does, and nothing else of its environment: the app's secrets are not a
        # template's business.
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command: this interpreter, a module of ours
            [sys.executable, "-m", "app.prompts.worker", repr(budget_s)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=_ROOT,
            env={"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self._stdin, self._stdout = self.process.stdin, self.process.stdout
        self._poll = select.poll()  # not select.select: the app may hold file descriptors past 1024
        self._poll.register(self._stdout.fileno(), select.POLLIN)
        self._pending = bytearray()

    def wait_ready(self) -> None:
        if self._read_line(time.monotonic() + START_TIMEOUT_S) + b"\n" != READY:
            raise _Gone

    def ask(self, request: bytes, budget_s: float) -> dict[str, str]:
        try:
            self._stdin.write(request)
            self._stdin.flush()
        except OSError:
            raise _Gone from None
        reply: dict[str, str] = json.loads(self._read_line(time.monotonic() + budget_s))
        return reply

    def _read_line(self, deadline: float) -> bytes:
        fd = self._stdout.fileno()
        while (end := self._pending.find(b"\n")) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not self._poll.poll(remaining * 1000):
                raise _Timeout
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise _Gone
            self._pending += chunk
        line = bytes(self._pending[:end])
        del self._pending[: end + 1]
        return line

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()

    def close(self) -> None:
        self.kill()
        self.process.wait()
        for pipe in (self._stdin, self._stdout):
            # A request left unsent in the buffer of a pipe that is gone cannot be flushed.
            with contextlib.suppress(OSError):
                pipe.close()


def _close_all(workers: set[_Worker], lock: threading.Lock, executor: ThreadPoolExecutor) -> None:
    with lock:
        retired = list(workers)
        workers.clear()
    for worker in retired:
        worker.close()
    executor.shutdown(wait=False, cancel_futures=True)


class TemplateRenderer:
    """Renders user templates in a small pool of worker processes, started on first use; a render past the
    budget kills its worker (the next render starts a fresh one). Build one per process and close it."""

    def __init__(self, budget_s: float = DEFAULT_BUDGET_S, workers: int = 2):
        self.budget_s = budget_s
        # Each pool thread drives its own worker process and waits on it, so the event loop never does.
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="template-worker")
        self._local = threading.local()
        self._workers: set[_Worker] = set()
        self._lock = threading.Lock()
        self._closed = False
        # A renderer dropped without aclose() (or left open at exit) still takes its workers with it.
        self._finalizer = weakref.finalize(self, _close_all, self._workers, self._lock, self._executor)

    async def render(self, text: str, **values: Any) -> str:
        """`text` rendered with copies of `values` (plain JSON data); ValueError says why it could not be."""
        if self._closed:
            raise RuntimeError("the template renderer is closed")
        request = json.dumps({"template": text, "values": values}).encode() + b"\n"
        reply = await asyncio.get_running_loop().run_in_executor(self._executor, self._render, request)
        if "error" in reply:
            raise ValueError(reply["error"])
        return reply["text"]

    async def problem(self, text: str) -> str | None:
        """Why a template cannot be used (tried on a sample source and question), or None."""
        try:
            await self.render(text, contexts=SAMPLE_CONTEXTS, query=SAMPLE_QUERY)
        except ValueError as exc:
            return str(exc)
        return None

    async def aclose(self) -> None:
        """Kill the workers (a render in flight fails) and stop the pool's threads."""
        self._closed = True
        with self._lock:
            for worker in self._workers:
                worker.kill()
        # The threads see their worker's pipe close at once; only then are the pipes safe to close.
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        self._finalizer()

    def _render(self, request: bytes) -> dict[str, str]:
        if self._closed:  # queued before aclose(): no new worker for it
            raise RuntimeError("the template renderer is closed")
        worker = self._worker()
        try:
            return worker.ask(request, self.budget_s)
        except _Gone:
            self._retire(worker)
            if self._closed:
                raise RuntimeError("the template renderer is closed") from None
            # Killed between renders (or crashed by the last one): this template gets a fresh worker, once.
            worker = self._worker()
        except _Timeout:
            self._retire(worker)
            raise ValueError(self._too_slow()) from None
        try:
            return worker.ask(request, self.budget_s)
        except _Timeout:
            self._retire(worker)
            raise ValueError(self._too_slow()) from None
        except _Gone:
            self._retire(worker)
            raise ValueError("the template stopped its renderer (out of memory or CPU time?)") from None

    def _worker(self) -> _Worker:
        worker: _Worker | None = getattr(self._local, "worker", None)
        if worker is not None:
            return worker
        worker = _Worker(self.budget_s)
        with self._lock:
            self._workers.add(worker)
        try:
            worker.wait_ready()
        except (_Timeout, _Gone):
            self._retire(worker)
            raise RuntimeError("a template worker process did not start") from None
        self._local.worker = worker
        return worker

    def _retire(self, worker: _Worker) -> None:
        with self._lock:
            self._workers.discard(worker)
        worker.close()
        self._local.worker = None

    def _too_slow(self) -> str:
        return f"the template took longer than {self.budget_s:g} s to render"


async def user_template_problem(text: str, renderer: TemplateRenderer | None = None) -> str | None:
    """Why a context template cannot be used, or None; without the app's renderer, a one-off worker tries it."""
    if renderer is not None:
        return await renderer.problem(text)
    once = TemplateRenderer(workers=1)
    try:
        return await once.problem(text)
    finally:
        await once.aclose()
