"""Experiments against a fake OpenAI-compatible server: one output per (item, variant, sample), metrics for
each, the response cache, cancel and resume, the concurrency limit, and latency without the queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.evaluation.metrics import METRIC_NAMES
from app.models import Comparison, Output, OutputMetric
from tests.factories import create_endpoint, create_variant
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer

ITEMS = [
    {"query": "How many vacation days?", "reference": "22 days", "expected_source": "01-vacation.md"},
    {"query": "Capital of France?", "reference": "Paris"},
    {"query": "7 times 8?", "reference": "56"},
]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    models = {
        "quick": FakeModel(reply="New employees get 22 days."),
        "other": FakeModel(reply="Paris, of course."),
        "slow": FakeModel(reply="slow answer", latency_s=0.4),
        "queued": FakeModel(reply="after a wait", latency_s=0.1, queue_s=0.5),
    }
    with FakeOpenAIServer(models) as server:
        yield server


async def _variant(client: httpx.AsyncClient, auth: dict[str, str], fake: FakeOpenAIServer, model: str, **endpoint: Any) -> int:
    ep = await create_endpoint(client, auth, name=f"ep-{model}", base_url=fake.base_url, model=model, **endpoint)
    return int((await create_variant(client, auth, ep["id"], name=f"var-{model}"))["id"])


async def _dataset(client: httpx.AsyncClient, auth: dict[str, str], items: list[dict[str, str]] = ITEMS) -> int:
    response = await client.post("/api/v1/datasets", json={"name": "eval", "items": items}, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _finished(client: httpx.AsyncClient, auth: dict[str, str], experiment_id: int, timeout: float = 30) -> dict[str, Any]:
    for _ in range(int(timeout / 0.1)):
        body = (await client.get(f"/api/v1/experiments/{experiment_id}", headers=auth)).json()
        if body["status"] in ("succeeded", "cancelled", "failed"):
            return dict(body)
        await asyncio.sleep(0.1)
    raise AssertionError(f"experiment {experiment_id} did not finish: {body}")


def _calls(fake: FakeOpenAIServer, *models: str) -> int:
    return sum(fake.models[m].calls for m in models)


async def test_an_experiment_answers_every_item_variant_and_sample_once_and_scores_each(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeOpenAIServer, state: Any
) -> None:
    variants = [await _variant(client, auth, fake, m) for m in ("quick", "other")]
    dataset_id = await _dataset(client, auth)
    before = _calls(fake, "quick", "other")
    started = await client.post(
        "/api/v1/experiments", json={"dataset_id": dataset_id, "variant_ids": variants, "repeats": 2}, headers=auth
    )
    assert started.status_code == 202, started.text
    body = await _finished(client, auth, started.json()["id"])
    assert body["status"] == "succeeded", body
    assert (body["items"], body["progress"]["total"], body["progress"]["done"]) == (3, 12, 12)
    assert _calls(fake, "quick", "other") - before == 12
    async with state.sessions() as session:
        rows = (
            await session.execute(
                select(Comparison.dataset_item_id, Comparison.sample, Output.variant_version_id, func.count())
                .join(Output)
                .where(Comparison.experiment_id == body["id"])
                .group_by(Comparison.dataset_item_id, Comparison.sample, Output.variant_version_id)
            )
        ).all()
        metrics = (await session.execute(select(OutputMetric.name, func.count()).group_by(OutputMetric.name))).all()
    assert len(rows) == 12 and all(n == 1 for *_k, n in rows)
    assert dict(metrics) == dict.fromkeys(METRIC_NAMES, 12)
    assert body["progress"]["scored"] == 12
    # How long the answers took is on record: the last answer came after the start, before the end.
    last_answer = datetime.fromisoformat(body["progress"]["last_answer_at"])
    started_at, finished_at = (datetime.fromisoformat(body[k]) for k in ("started_at", "finished_at"))
    assert started_at < last_answer <= finished_at

    # The same run again: every answer comes from the cache, no model is called, and each says so.
    again = await client.post(
        "/api/v1/experiments", json={"dataset_id": dataset_id, "variant_ids": variants, "repeats": 2}, headers=auth
    )
    second = await _finished(client, auth, again.json()["id"])
    assert (second["status"], second["progress"]["cached"]) == ("succeeded", 12)
    assert _calls(fake, "quick", "other") - before == 12
    # Unless asked to refresh.
    fresh = await client.post(
        "/api/v1/experiments",
        json={"dataset_id": dataset_id, "variant_ids": variants, "refresh": True},
        headers=auth,
    )
    third = await _finished(client, auth, fresh.json()["id"])
    assert (third["progress"]["cached"], _calls(fake, "quick", "other") - before) == (0, 18)


async def test_cancel_keeps_finished_outputs_and_resume_completes(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeOpenAIServer
) -> None:
    variant = await _variant(client, auth, fake, "slow", max_concurrency=1)
    items = [{"query": f"question {i}"} for i in range(8)]
    dataset_id = await _dataset(client, auth, items)
    started = (
        await client.post("/api/v1/experiments", json={"dataset_id": dataset_id, "variant_ids": [variant]}, headers=auth)
    ).json()
    await asyncio.sleep(1.0)
    cancelled = await client.post(f"/api/v1/experiments/{started['id']}/cancel", headers=auth)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    await asyncio.sleep(1.2)  # the worker sees it within a poll, and its call in flight finishes
    kept = (await client.get(f"/api/v1/experiments/{started['id']}", headers=auth)).json()["progress"]
    assert 1 <= kept["done"] < 8 and kept["pending"] == 8 - kept["done"]
    await asyncio.sleep(0.6)
    later = (await client.get(f"/api/v1/experiments/{started['id']}", headers=auth)).json()["progress"]
    assert (later["done"], later["pending"], later["eta_s"]) == (kept["done"], kept["pending"], None)
    again = await client.post(f"/api/v1/experiments/{started['id']}/cancel", headers=auth)
    assert again.status_code == 409
    resumed = await client.post(f"/api/v1/experiments/{started['id']}/resume", headers=auth)
    assert resumed.status_code == 202
    body = await _finished(client, auth, started["id"])
    assert (body["status"], body["progress"]["done"], body["progress"]["pending"]) == ("succeeded", 8, 0)


async def test_concurrency_per_endpoint_is_the_endpoints_limit(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeOpenAIServer
) -> None:
    variant = await _variant(client, auth, fake, "slow", max_concurrency=3)
    dataset_id = await _dataset(client, auth, [{"query": f"q{i}"} for i in range(9)])
    fake.max_in_flight = 0
    started = (
        await client.post("/api/v1/experiments", json={"dataset_id": dataset_id, "variant_ids": [variant]}, headers=auth)
    ).json()
    assert (await _finished(client, auth, started["id"]))["status"] == "succeeded"
    assert fake.max_in_flight == 3


async def test_latency_leaves_out_the_time_spent_in_the_servers_queue(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeOpenAIServer
) -> None:
    variant = await _variant(client, auth, fake, "queued")
    response = await client.post("/api/v1/comparisons", json={"query": "hi", "variant_ids": [variant]}, headers=auth)
    output = response.json()["outputs"][0]
    assert output["wait_ms"] == 500.0
    # The fake answers 100 ms after its 500 ms "queue": the model's own time is well under the queue.
    assert 100 <= output["latency_ms"] < 400 and output["ttft_ms"] < 400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"dataset_id": 999999}, "dataset_id"),
        ({"dataset_id": "DATASET", "variant_ids": [999999]}, "variant_ids"),
        ({"dataset_id": "DATASET", "judge_endpoint_id": 999999}, "judge_endpoint_id"),
    ],
)
async def test_bad_references_are_422_naming_the_field(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeOpenAIServer, body: dict[str, Any], field: str
) -> None:
    await _variant(client, auth, fake, "quick")
    if body["dataset_id"] == "DATASET":
        body = body | {"dataset_id": await _dataset(client, auth)}
    response = await client.post("/api/v1/experiments", json=body, headers=auth)
    assert response.status_code == 422 and field in response.json()["detail"]
    assert (await client.get("/api/v1/experiments", headers=auth)).json() == []
