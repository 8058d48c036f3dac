"""Several Triptych processes on one deployment (PostgreSQL, Chroma's server mode, one data folder), started
and killed as an operator would: nothing run twice, nothing lost, nothing marked dead while it lives.

Each test starts real `triptych serve` / `triptych worker` processes against a fake model server on loopback
(the edge we cannot reach), with a short lease (TRIPTYCH_LEASE_S=2) so a lost worker is noticed in seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.migrate import upgrade_database
from tests.conftest import API_TOKEN
from tests.databases import blank_database
from tests.factories import create_endpoint, create_variant, experiment_finished
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer
from tests.finetune.test_local_jobs import _job, _until, _workers
from tests.processes import TriptychProcess, process_env

pytestmark = pytest.mark.postgres
AUTH = {"Authorization": f"Bearer {API_TOKEN}"}
LEASE_S = 2


@pytest.fixture
def deployment(tmp_path: Path, chroma_server: str) -> Iterator[dict[str, str]]:
    """One PostgreSQL database of its own, migrated, and the environment its processes share."""
    with blank_database("postgresql", tmp_path) as url:
        upgrade_database(url)
        yield process_env(url, chroma_server, tmp_path / "data", API_TOKEN, lease_s=LEASE_S)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[TriptychProcess]]:
    """Processes a test starts; stopped (and their logs kept beside the test's files) at the end."""
    started: list[TriptychProcess] = []
    yield started
    for process in started:
        process.stop()


@pytest.fixture
def model() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(
        {
            "one-second": FakeModel(reply="an answer", latency_s=1.0),
            "two-second": FakeModel(reply="another answer", latency_s=2.0),
            # Longer than a second process takes to start and sweep: its answer arrives well after that.
            "slow": FakeModel(reply="slow answer", latency_s=20.0),
            # Streams for about six seconds, a word at a time.
            "talker": FakeModel(reply=" ".join(f"w{i}" for i in range(60)), token_delay_s=0.1),
        }
    ) as fake:
        yield fake


def start(processes: list[TriptychProcess], name: str, args: list[str], env: dict[str, str], tmp_path: Path) -> TriptychProcess:
    process = TriptychProcess(name, args, env, tmp_path, web=args[0] == "serve")
    processes.append(process)
    return process


@pytest.fixture
async def web_client() -> AsyncIterator[Any]:
    clients: list[httpx.AsyncClient] = []

    def make(process: TriptychProcess) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=process.url, timeout=60)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def _experiment(
    client: httpx.AsyncClient, model: FakeOpenAIServer, model_name: str, items: int, concurrency: int = 2
) -> int:
    endpoint = await create_endpoint(client, AUTH, name=model_name, base_url=model.base_url, model=model_name, max_concurrency=concurrency)
    variant = await create_variant(client, AUTH, endpoint["id"], name=f"{model_name} variant")
    dataset = await client.post(
        "/api/v1/datasets",
        json={"name": f"{model_name} set", "items": [{"query": f"{model_name} question {i}"} for i in range(items)]},
        headers=AUTH,
    )
    assert dataset.status_code == 201, dataset.text
    experiment = await client.post(
        "/api/v1/experiments", json={"dataset_id": dataset.json()["id"], "variant_ids": [variant["id"]]}, headers=AUTH
    )
    assert experiment.status_code == 202, experiment.text
    return int(experiment.json()["id"])


async def _progress(client: httpx.AsyncClient, experiment_id: int) -> dict[str, Any]:
    return dict((await client.get(f"/api/v1/experiments/{experiment_id}", headers=AUTH)).json())


async def _finished(client: httpx.AsyncClient, experiment_id: int, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = await _progress(client, experiment_id)
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        await asyncio.sleep(0.2)
    raise AssertionError(f"experiment {experiment_id} did not finish in {timeout} s: {body}")


async def test_a_second_process_starting_neither_repeats_nor_kills_the_first_ones_work(
    deployment: dict[str, str], processes: list[TriptychProcess], model: FakeOpenAIServer, web_client: Any, tmp_path: Path
) -> None:
    a = start(processes, "web-a", ["serve"], deployment, tmp_path)
    a.wait_ready()
    client = web_client(a)
    experiment_id = await _experiment(client, model, "one-second", items=20)
    slow_endpoint = await create_endpoint(client, AUTH, name="slow", base_url=model.base_url, model="slow")
    slow_variant = await create_variant(client, AUTH, slow_endpoint["id"], name="slow variant")
    asked = asyncio.create_task(
        client.post("/api/v1/comparisons", json={"query": "take your time", "variant_ids": [slow_variant["id"]]}, headers=AUTH)
    )
    while model.models["slow"].calls == 0 or model.models["one-second"].calls < 4:
        await asyncio.sleep(0.1)

    b = start(processes, "web-b", ["serve"], deployment, tmp_path)
    await asyncio.to_thread(b.wait_ready)
    await asyncio.sleep(LEASE_S * 1.5)  # B's start-up and its sweeps have had their chance
    from_b = web_client(b)
    history = (await from_b.get("/api/v1/comparisons", params={"limit": 50}, headers=AUTH)).json()
    [asked_id] = [c["id"] for c in history if c["query"] == "take your time"]
    seen_from_b = (await from_b.get(f"/api/v1/comparisons/{asked_id}", headers=AUTH)).json()
    assert seen_from_b["outputs"][0]["status"] == "pending", seen_from_b  # still answering: not "interrupted"

    finished = await _finished(client, experiment_id)
    assert finished["status"] == "succeeded", finished
    assert finished["progress"]["done"] == 20
    assert model.models["one-second"].calls == 20, "an item was asked twice"

    answer = (await asked).json()["outputs"][0]
    assert (answer["status"], answer["error"], answer["text"]) == ("done", None, "slow answer")
    assert model.models["slow"].calls == 1
    assert "interrupted" not in a.log() + b.log()


async def test_a_stream_broken_off_on_one_web_process_carries_on_from_another_and_stops_there(
    deployment: dict[str, str], processes: list[TriptychProcess], model: FakeOpenAIServer, web_client: Any, tmp_path: Path
) -> None:
    """B follows A's answer through the rows A checkpoints: the reconnected stream continues where the first
    broke off, the model is called once, and a Stop sent to B ends the answer A is writing."""
    from tests.comparisons.test_streaming import check_stream
    from tests.streaming import sse_events

    a = start(processes, "web-a", ["serve"], deployment, tmp_path)
    b = start(processes, "web-b", ["serve"], deployment, tmp_path)
    a.wait_ready()
    await asyncio.to_thread(b.wait_ready)
    from_a, from_b = web_client(a), web_client(b)
    endpoint = await create_endpoint(from_a, AUTH, name="talker", base_url=model.base_url, model="talker")
    variant = await create_variant(from_a, AUTH, endpoint["id"], name="talker", strategy="few_shot")
    body = {"query": "Talk.", "variant_ids": [variant["id"]], "stream": True}
    first: list[Any] = []
    async with from_a.stream("POST", "/api/v1/comparisons", json=body, headers=AUTH) as response:
        async for event in sse_events(response):
            first.append(event)
            if sum(1 for e in first if e.event == "delta") == 3:
                break
    comparison_id = first[0].json()["id"]
    rest: list[Any] = []
    headers = AUTH | {"Last-Event-ID": first[-1].id}
    async with from_b.stream("GET", f"/api/v1/comparisons/{comparison_id}/events", headers=headers) as response:
        async for event in sse_events(response):
            rest.append(event)
            if sum(1 for e in rest if e.event == "delta") == 3:
                stopped = await from_b.post(f"/api/v1/comparisons/{comparison_id}/stop", headers=AUTH)
                assert stopped.status_code == 200, stopped.text
    (output,) = check_stream(first + rest[1:], [first[0].json()["outputs"][0]["id"]]).values()
    assert output["status"] == "stopped" and output["text"].startswith("w0 w1") and "w59" not in output["text"]
    assert model.models["talker"].calls == 1
    for _ in range(50):
        if model.models["talker"].disconnects:
            break
        await asyncio.sleep(0.1)
    assert model.models["talker"].disconnects == 1  # A closed its call to the model


async def test_a_killed_worker_s_experiment_is_taken_over_after_its_lease(
    deployment: dict[str, str], processes: list[TriptychProcess], model: FakeOpenAIServer, web_client: Any, tmp_path: Path
) -> None:
    web = start(processes, "web", ["serve", "--no-jobs"], deployment, tmp_path)
    first = start(processes, "worker-1", ["worker"], deployment, tmp_path)
    web.wait_ready()
    first.wait_ready()
    client = web_client(web)
    experiment_id = await _experiment(client, model, "one-second", items=20, concurrency=2)
    while (await _progress(client, experiment_id))["progress"]["done"] < 6:
        await asyncio.sleep(0.1)

    first.kill()
    calls_at_kill = model.models["one-second"].calls
    stored_at_kill = (await _progress(client, experiment_id))["progress"]["done"]
    in_flight_at_kill = calls_at_kill - stored_at_kill  # asked, but not stored when the worker died

    second = start(processes, "worker-2", ["worker", "--queues", "experiments"], deployment, tmp_path)
    finished = await _finished(client, experiment_id)
    assert finished["status"] == "succeeded", (finished, second.log())
    assert (finished["progress"]["total"], finished["progress"]["done"], finished["progress"]["pending"]) == (20, 20, 0)
    assert model.models["one-second"].calls <= 20 + in_flight_at_kill, (model.models["one-second"].calls, in_flight_at_kill)
    assert "lost its worker" in second.log()

    # Cancel from the web process reaches the worker that runs the job.
    slow_experiment = await _experiment(client, model, "two-second", items=10, concurrency=1)
    while model.models["two-second"].calls == 0:
        await asyncio.sleep(0.1)
    cancelled = await client.post(f"/api/v1/experiments/{slow_experiment}/cancel", headers=AUTH)
    assert cancelled.status_code == 200, cancelled.text
    calls = model.models["two-second"].calls
    await asyncio.sleep(3)  # longer than one answer: a worker still running would have asked again
    assert model.models["two-second"].calls == calls
    assert (await experiment_finished(client, AUTH, slow_experiment))["status"] == "cancelled"


@pytest.mark.model
async def test_a_killed_worker_s_fine_tune_resumes_from_its_checkpoint_on_another_worker(
    deployment: dict[str, str], processes: list[TriptychProcess], web_client: Any, tmp_path: Path
) -> None:


    web = start(processes, "web", ["serve", "--no-jobs"], deployment, tmp_path)
    first = start(processes, "finetune-1", ["worker", "--queues", "finetune"], deployment, tmp_path)
    web.wait_ready()
    first.wait_ready()
    client = web_client(web)
    job_id = await _job(client, epochs=3)
    # The first epoch's checkpoint is written (its validation loss is reported), then the worker is killed.
    await _until(client, job_id, lambda b: len(b["validation_losses"]) >= 1)
    data_dir = Path(deployment["TRIPTYCH_DATA_DIR"])
    assert len(_workers(data_dir, job_id)) == 1
    first.kill()
    for _ in range(100):  # the trainer dies with its worker: it never trains beside the next one
        if not _workers(data_dir, job_id):
            break
        await asyncio.sleep(0.1)
    assert _workers(data_dir, job_id) == []

    second = start(processes, "finetune-2", ["worker", "--queues", "finetune"], deployment, tmp_path)
    done = await _until(client, job_id, lambda b: b["status"] in ("succeeded", "failed", "cancelled"))
    assert done["status"] == "succeeded", (done, second.log())
    assert done["resumed"] == 1 and done["step"] == done["total_steps"]
    steps = [p["step"] for p in done["losses"]]
    assert steps == sorted(set(steps)) and steps[0] == 1 and steps[-1] == done["total_steps"]
    assert "lost its worker" in second.log()
