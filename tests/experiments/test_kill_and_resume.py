"""A real `triptych experiments run` process killed with SIGKILL mid-run, then resumed: exactly one output per
(item, variant, sample), none lost or doubled; a second run is answered from the cache without a model call."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.core.settings import Settings
from app.models import Comparison, Experiment, Output
from tests.conftest import make_settings
from tests.factories import create_endpoint, create_variant
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer

TRIPTYCH = str(Path(sys.executable).with_name("triptych"))
ITEMS, REPEATS = 12, 2


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The test's own app only reads: the CLI processes work the experiment (with PostgreSQL any process
    working the queue could take it, and this test blocks its own event loop while it waits on them)."""
    return make_settings(database_url, tmp_path / "data", work_jobs=False)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer({"a": FakeModel(reply="answer a", latency_s=0.15), "b": FakeModel(reply="answer b", latency_s=0.15)}) as server:
        yield server


def _cli(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [TRIPTYCH, "experiments", *args], env=os.environ | env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


async def _outputs(state: Any, experiment_id: int) -> list[tuple[Any, ...]]:
    async with state.sessions() as session:
        stmt = (
            select(Comparison.dataset_item_id, Comparison.sample, Output.variant_version_id, Output.status, Output.cached_from_id)
            .join(Output)
            .where(Comparison.experiment_id == experiment_id)
        )
        return [tuple(r) for r in (await session.execute(stmt)).all()]


async def test_a_killed_run_resumes_with_exactly_one_output_each(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeOpenAIServer, state: Any, database_url: str, tmp_path: Path
) -> None:
    for model in ("a", "b"):
        endpoint = await create_endpoint(client, auth, name=f"ep-{model}", base_url=fake.base_url, model=model, max_concurrency=2)
        await create_variant(client, auth, endpoint["id"], name=f"var-{model}")
    items = [{"query": f"question number {i}", "reference": f"{i} days"} for i in range(ITEMS)]
    assert (await client.post("/api/v1/datasets", json={"name": "kill-eval", "items": items}, headers=auth)).status_code == 201
    env = {
        "TRIPTYCH_DATABASE_URL": database_url,
        "TRIPTYCH_DATA_DIR": str(tmp_path / "cli-data"),
        "TRIPTYCH_LOAD_DEMO": "false",
        "TRIPTYCH_SERVE_LOCAL_MODEL": "false",
        # The killed run's job is handed back to the queue once its worker has been silent this long.
        "TRIPTYCH_LEASE_S": "2",
    }
    calls_before = fake.models["a"].calls + fake.models["b"].calls
    run = _cli(env, "run", "kill-eval", "--variants", "var-a,var-b", "--repeats", str(REPEATS))
    try:
        experiment_id = None
        for _ in range(600):  # until a few outputs are written (the run is about 2.5 s of model time)
            await asyncio.sleep(0.05)
            async with state.sessions() as session:
                experiment_id = await session.scalar(select(func.max(Experiment.id)))
            if experiment_id is not None:
                done = [o for o in await _outputs(state, experiment_id) if o[3] == "done"]
                if len(done) >= 6:
                    break
        assert experiment_id is not None
        run.send_signal(signal.SIGKILL)
    finally:
        run.kill()
        run.communicate(timeout=10)  # reaps it and closes its pipe
    interrupted = await _outputs(state, experiment_id)
    total = ITEMS * REPEATS * 2
    assert len(interrupted) == total
    assert 0 < sum(o[3] == "pending" for o in interrupted) < total  # killed in the middle

    resume = _cli(env, "resume", str(experiment_id))
    output, _ = resume.communicate(timeout=180)
    assert resume.returncode == 0, output
    final = await _outputs(state, experiment_id)
    keys = [(item, sample, version) for item, sample, version, _s, _c in final]
    assert len(final) == total and len(set(keys)) == total  # exactly one per (item, variant, sample)
    assert all(status == "done" for *_k, status, _c in final)
    async with state.sessions() as session:
        assert await session.scalar(select(Experiment.status).where(Experiment.id == experiment_id)) == "succeeded"
    # Calls made: every output once, plus at most those in flight at the kill (their answers were lost).
    calls = fake.models["a"].calls + fake.models["b"].calls - calls_before
    assert total <= calls <= total + 2 * 2 + 2 * 2

    # Run again: all answers from the cache, not one model call.
    again = _cli(env, "run", "kill-eval", "--variants", "var-a,var-b", "--repeats", str(REPEATS))
    output, _ = again.communicate(timeout=180)
    assert again.returncode == 0, output
    assert fake.models["a"].calls + fake.models["b"].calls - calls_before == calls
    assert f"{total} from the cache" in output
