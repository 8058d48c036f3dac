"""The comparison runner against the fake provider: what it sends, what it stores, how a failure is kept."""

from __future__ import annotations

import httpx

from app.providers.base import ProviderError
from app.state import AppState
from tests.factories import create_endpoint, create_variant
from tests.fakes.fake_provider import FakeProvider


async def test_the_runner_sends_the_variant_and_stores_each_answer_on_its_own(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    fake = FakeProvider()
    state.gateway.providers.register(fake, replace=True)
    endpoint = await create_endpoint(client, auth, model="fake-model", price_prompt_per_m=1.0, price_completion_per_m=2.0)
    good = await create_variant(client, auth, endpoint["id"], name="good", system_prompt="Be brief.", temperature=0.7)
    bad = await create_variant(client, auth, endpoint["id"], name="bad")
    fake.enqueue("Twenty-two days.", ProviderError("HTTP 429 from api: quota exhausted"))
    answer = await client.post(
        "/api/v1/comparisons", json={"query": "Vacation days?", "variant_ids": [good["id"], bad["id"]]}, headers=auth
    )
    assert answer.status_code == 201
    sent = {call.request.temperature: call.request for call in fake.requests}
    assert set(sent) == {0.7, 0.2}
    assert [m.role for m in sent[0.7].messages] == ["system", "user"] and sent[0.7].messages[0].content == "Be brief."
    assert sent[0.7].messages[-1].content.endswith("Vacation days?")
    outputs = {o["variant"]["name"]: o for o in answer.json()["outputs"]}
    # Which variant got which queued answer depends on the order they ran: one answered, one failed.
    done = [o for o in outputs.values() if o["status"] == "done"]
    failed = [o for o in outputs.values() if o["status"] == "error"]
    assert len(done) == 1 and len(failed) == 1
    assert done[0]["text"] == "Twenty-two days." and done[0]["completion_tokens"] == 2
    assert done[0]["cost_usd"] == (done[0]["prompt_tokens"] * 1.0 + 2 * 2.0) / 1_000_000
    assert failed[0]["error"] == "HTTP 429 from api: quota exhausted" and failed[0]["text"] == ""
