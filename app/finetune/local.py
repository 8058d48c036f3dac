"""The local backend: LoRA of the bundled model in a worker process (`app.training.worker`), which writes the
adapter as a GGUF LoRA adapter and merged into a model of its own; one of the two is handed to the bundled
model server (the `finetune_serve` setting)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from app.finetune.backends import JobEvents, JobSpec, Trained, TrainingFailed

log = logging.getLogger(__name__)

# How often the parent looks at the job row (cancel) while the worker is quiet (loading the model).
POLL_S = 0.5


class LocalLoraBackend:
    name: ClassVar[str] = "local"

    def __init__(
        self,
        gguf_path: Callable[[], Path],
        adapters_dir: Path,
        *,
        cache_dir: Path,
        threads: int = 2,
        serve: Literal["merged", "adapter"] = "merged",
        python: str = sys.executable,
    ):
        # Looked up when a job starts: a machine without the bundled weights can still run everything else.
        self.gguf_path = gguf_path
        self.adapters_dir = adapters_dir
        self.cache_dir = cache_dir  # the de-quantised base for training, made once (app/training/lora.py)
        self.threads = threads
        self.serve = serve  # which of the worker's two files is served
        self.python = python

    async def train(self, spec: JobSpec, events: JobEvents) -> Trained | None:
        spec.workdir.mkdir(parents=True, exist_ok=True)
        spec_file = spec.workdir / "spec.json"
        spec_file.write_text(
            json.dumps(
                {
                    "out_dir": str(spec.workdir),
                    "gguf_path": str(self.gguf_path()),
                    "hyperparameters": dict(spec.hyperparameters),
                    "train": list(spec.train),
                    "validation": list(spec.validation),
                    "threads": self.threads,
                    "model_id": spec.model_id,
                    "cache_dir": str(self.cache_dir),
                }
            ),
            encoding="utf-8",
        )
        with (spec.workdir / "worker.log").open("ab") as log_file:
            process = await asyncio.create_subprocess_exec(
                self.python,
                "-m",
                "app.training.worker",
                str(spec_file),
                stdout=asyncio.subprocess.PIPE,
                stderr=log_file,
                # Its own process group: a Ctrl-C in the server's terminal reaches the server, which then
                # decides (the job stays resumable) instead of the worker dying mid-write.
                start_new_session=True,
                env=os.environ | {"TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1"},
            )
            try:
                done = await self._follow(process, events)
            finally:
                await _stop(process)
        if done is None:
            return None
        built = Path(done["model"] if self.serve == "merged" else done["adapter"])
        self.adapters_dir.mkdir(parents=True, exist_ok=True)
        served = self.adapters_dir / f"{spec.model_id}.gguf"
        # Moved, not copied (140 MB for a merged model); the other form stays in the job folder.
        shutil.move(built, served.with_suffix(".part"))
        served.with_suffix(".part").replace(served)  # the server reads the folder: finished files only
        return Trained(spec.model_id, served, {k: v for k, v in done.items() if k.endswith(("_bytes", "_s"))})

    async def _follow(self, process: asyncio.subprocess.Process, events: JobEvents) -> dict[str, Any] | None:
        """Relay the worker's reports until it is done (its last report), fails, or the job is cancelled."""
        assert process.stdout is not None
        failure: str | None = None
        while True:
            if await events.cancelled():
                return None
            try:
                line = await asyncio.wait_for(process.stdout.readline(), POLL_S)
            except TimeoutError:
                continue
            if not line:
                break
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a library printing to stdout; the log has the rest
            kind = event.get("event")
            if kind == "started":
                await events.started(total_steps=event.get("total_steps"))
            elif kind == "resumed":
                await events.resumed_at(int(event.get("step", 0)))
            elif kind == "step":
                await events.step(
                    int(event["step"]), event.get("loss"), epoch=event.get("epoch"), seconds=event.get("elapsed_s")
                )
            elif kind == "epoch" and event.get("validation_loss") is not None:
                await events.validation(float(event["epoch"]), float(event["validation_loss"]))
            elif kind == "done":
                return dict(event)
            elif kind == "error":
                failure = str(event.get("message") or "the training worker failed")
        code = await process.wait()
        raise TrainingFailed(failure or f"the training worker exited with code {code} (see worker.log in the job folder)")


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 10)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
