"""The LLM judge calls its model through the gateway like every variant: a judge endpoint saved while
private addresses were allowed is refused at call time once the policy refuses its host, and no pair (nor
the judge's key) is sent to it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from app.models import Endpoint, JudgeVerdict
from tests.factories import create_endpoint, create_variant, experiment_finished
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer

ITEMS = [{"query": f"How many days for case {i}?", "reference": "22 days"} for i in range(3)]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    models = {"good": FakeModel(reply="22 days."), "bad": FakeModel(reply="No idea."), "judge": FakeModel(judge_prefers="22")}
    with FakeOpenAIServer(models) as server:
        yield server


async def test_a_judge_whose_host_the_policy_now_refuses_is_never_called(
    client: httpx.AsyncClient, auth: dict[str, str], fake: FakeOpenAIServer, state: Any
) -> None:
    ids = {}
    for model in ("good", "bad", "judge"):
        endpoint = await create_endpoint(client, auth, name=f"ep-{model}", base_url=fake.base_url, model=model, api_key="sk-judge-key-123456")
        ids[model] = endpoint["id"]
    variants = [(await create_variant(client, auth, ids[m], name=m))["id"] for m in ("good", "bad")]
    # The answering endpoints stand in for the bundled server (exempt from the policy); the judge does not.
    async with state.sessions.begin() as session:
        await session.execute(update(Endpoint).where(Endpoint.id.in_([ids["good"], ids["bad"]])).values(is_bundled=True))
    before = {m: fake.models[m].calls for m in ("good", "judge")}
    state.gateway.allow_private = False  # as after a restart with TRIPTYCH_ALLOW_PRIVATE_ENDPOINTS=false
    dataset = (await client.post("/api/v1/datasets", json={"name": "facts", "items": ITEMS}, headers=auth)).json()
    body = {"dataset_id": dataset["id"], "variant_ids": variants, "judge_endpoint_id": ids["judge"]}
    started = (await client.post("/api/v1/experiments", json=body, headers=auth)).json()
    experiment = await experiment_finished(client, auth, started["id"])
    assert experiment["status"] == "succeeded", experiment
    assert fake.models["good"].calls - before["good"] == 3
    assert fake.models["judge"].calls == before["judge"]
    async with state.sessions() as session:
        errors = (await session.scalars(select(JudgeVerdict.error))).all()
    assert len(errors) == 3 and all(e and "endpoint refused" in e for e in errors)
