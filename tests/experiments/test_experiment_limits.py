"""Large or hostile experiments stay a 4xx and never stall the app: the largest allowed experiment is written
while other requests are answered, a larger one is refused naming the limit, and a format rule that refers to
itself without end (saved before rules were checked) gives every answer a reason, not a failed run."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select, update

from app.experiments.schemas import MAX_OUTPUTS
from app.models import DatasetVersion, OutputMetric
from app.state import AppState
from tests.factories import create_endpoint, create_variant, experiment_finished, while_probing
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer({"json": FakeModel(reply='{"child": {}}')}) as server:
        yield server


async def _clear_outputs(state: AppState) -> None:
    """The suite's wipe deletes table by table, and the database checks every deleted output against
    `outputs.cached_from_id`, which has no index: 100 s for 20,000 outputs. Cleared in bulk instead."""
    async with state.engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            await conn.exec_driver_sql("TRUNCATE outputs, comparison_tags, comparisons CASCADE")
        else:
            await conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for table in ("outputs", "comparison_tags", "comparisons"):
                await conn.exec_driver_sql(f"DELETE FROM {table}")
            await conn.commit()
            await conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        await conn.commit()


async def test_the_largest_experiment_is_created_without_stalling_and_a_larger_one_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Only the creation is measured here: the run would start calling the (unreachable) endpoint.
    started: list[int] = []

    async def enqueue(kind: str, key: int) -> None:
        started.append(key)

    monkeypatch.setattr(state.jobs, "enqueue", enqueue)
    endpoint = await create_endpoint(client, auth)
    variants = [(await create_variant(client, auth, endpoint["id"], name=f"v{i}"))["id"] for i in range(2)]
    items = [{"query": f"question {i}", "tags": ["t"]} for i in range(MAX_OUTPUTS // 2)]
    dataset = await client.post("/api/v1/datasets", json={"name": "big", "items": items}, headers=auth)
    assert dataset.status_code == 201, dataset.text
    body = {"dataset_id": dataset.json()["id"], "variant_ids": variants}

    try:
        created, latencies = await while_probing(client, client.post("/api/v1/experiments", json=body, headers=auth))
        assert created.status_code == 202, created.text
        assert created.json()["progress"]["total"] == MAX_OUTPUTS and started == [created.json()["id"]]
        # Measured: about 200 answers while it was written, the slowest in 16 ms (one insert: 16 s).
        assert latencies and max(latencies) < 0.2, (len(latencies), max(latencies))

        refused = await client.post("/api/v1/experiments", json=body | {"repeats": 2}, headers=auth)
        assert refused.status_code == 422
        detail = refused.json()["detail"]
        assert f"at most {MAX_OUTPUTS:,} outputs" in detail and "40,000" in detail, detail
        assert len((await client.get("/api/v1/experiments", headers=auth)).json()) == 1
    finally:
        await _clear_outputs(state)


async def test_a_rule_that_refers_to_itself_saved_before_the_checks_does_not_fail_the_run(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake: FakeOpenAIServer
) -> None:
    endpoint = await create_endpoint(client, auth, base_url=fake.base_url, model="json")
    variant = (await create_variant(client, auth, endpoint["id"]))["id"]
    tree = {"type": "object", "properties": {"child": {"$ref": "#"}}}
    dataset = (
        await client.post(
            "/api/v1/datasets",
            json={"name": "legacy", "items": [{"query": "q1"}, {"query": "q2"}], "format_kind": "json_schema",
                  "format_rule": json.dumps(tree)},
            headers=auth,
        )
    ).json()
    async with state.sessions.begin() as session:
        await session.execute(
            update(DatasetVersion).where(DatasetVersion.id == dataset["version_id"]).values(format_rule='{"$ref": "#"}')
        )
    started = await client.post(
        "/api/v1/experiments", json={"dataset_id": dataset["id"], "variant_ids": [variant]}, headers=auth
    )
    assert started.status_code == 202, started.text
    body = await experiment_finished(client, auth, started.json()["id"])
    assert body["status"] == "succeeded", body
    async with state.sessions() as session:
        formats = (await session.execute(select(OutputMetric.value, OutputMetric.reason).where(OutputMetric.name == "format"))).all()
    assert len(formats) == 2
    assert all(value is None and "refers to itself without end" in reason for value, reason in formats), formats
