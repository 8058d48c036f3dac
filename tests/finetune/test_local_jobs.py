"""Local fine-tuning jobs through the app, with real training: cancel stops the worker, a killed worker is
reported failed with the reason, and a server that stops mid-job resumes it from the last checkpoint."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from tests.conftest import API_TOKEN, make_settings, wipe

pytestmark = pytest.mark.model
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
EXAMPLES = [{"input": f"How many days for case {i}?", "output": f"Answer: {i + 2} days.\nAsk: hr@larkspur.example"} for i in range(7)]


def _workers(data_dir: Path, job_id: int) -> list[int]:
    """Pids of training workers running this job (found by their spec file)."""
    spec = str(data_dir / "finetune" / f"job-{job_id}" / "spec.json")
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "app.training.worker" in cmdline and spec in cmdline:
            found.append(int(pid))
    return found


async def _job(client: httpx.AsyncClient, epochs: int) -> int:
    made = await client.post("/api/v1/example-sets", json={"name": "tiny", "examples": EXAMPLES}, headers=AUTH)
    training_set = await client.post(
        "/api/v1/training-sets", json={"name": "tiny v1", "example_set_id": made.json()["id"]}, headers=AUTH
    )
    started = await client.post(
        "/api/v1/finetune/jobs",
        json={"training_set_id": training_set.json()["id"], "evaluate": False, "hyperparameters": {"epochs": epochs, "rank": 4}},
        headers=AUTH,
    )
    assert started.status_code == 202, started.text
    return int(started.json()["id"])


async def _until(client: httpx.AsyncClient, job_id: int, done: Any, timeout: float = 240) -> dict[str, Any]:
    for _ in range(int(timeout / 0.2)):
        body = (await client.get(f"/api/v1/finetune/jobs/{job_id}", headers=AUTH)).json()
        if done(body):
            return dict(body)
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} never got there: {body}")


async def test_cancel_stops_the_worker_and_a_killed_worker_fails_the_job(
    client: httpx.AsyncClient, settings: Any
) -> None:
    job_id = await _job(client, epochs=20)
    await _until(client, job_id, lambda b: b["step"] >= 1)
    assert len(_workers(settings.data_dir, job_id)) == 1
    cancelled = await client.post(f"/api/v1/finetune/jobs/{job_id}/cancel", headers=AUTH)
    assert cancelled.json()["status"] == "cancelled"
    for _ in range(100):
        if not _workers(settings.data_dir, job_id):
            break
        await asyncio.sleep(0.2)
    assert _workers(settings.data_dir, job_id) == []
    assert (await client.get(f"/api/v1/finetune/jobs/{job_id}", headers=AUTH)).json()["status"] == "cancelled"

    second = await client.post(
        "/api/v1/finetune/jobs",
        json={"training_set_id": cancelled.json()["training_set_id"], "evaluate": False, "hyperparameters": {"epochs": 20}},
        headers=AUTH,
    )
    killed_id = int(second.json()["id"])
    await _until(client, killed_id, lambda b: b["step"] >= 1)
    for pid in _workers(settings.data_dir, killed_id):
        os.kill(pid, signal.SIGKILL)
    failed = await _until(client, killed_id, lambda b: b["status"] != "running", timeout=30)
    assert failed["status"] == "failed" and "exited with code -9" in failed["error"]


async def test_a_server_stopped_mid_job_resumes_it_from_the_last_checkpoint(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path / "data")
    first = create_app(settings)
    async with first.router.lifespan_context(first):
        transport = httpx.ASGITransport(app=first)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            job_id = await _job(client, epochs=3)
            # The first epoch's checkpoint is written (its validation loss is reported), then the server stops.
            await _until(client, job_id, lambda b: len(b["validation_losses"]) >= 1)
    assert _workers(settings.data_dir, job_id) == []
    second = create_app(settings)
    async with second.router.lifespan_context(second):
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            done = await _until(client, job_id, lambda b: b["status"] in ("succeeded", "failed", "cancelled"))
            assert done["status"] == "succeeded", done
            assert done["resumed"] == 1 and done["step"] == done["total_steps"]
            steps = [p["step"] for p in done["losses"]]
            assert steps == sorted(set(steps)) and steps[0] == 1 and steps[-1] == done["total_steps"]
            assert (settings.adapters_dir / f"{done['result_model']}.gguf").is_file()
        await wipe(second.state.triptych)
