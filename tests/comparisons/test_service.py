"""The fan-out against a fake OpenAI-compatible server on loopback: concurrency, failures, evidence."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import update

from app.models import Output, utcnow
from tests.factories import create_endpoint, create_variant
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAIServer]:
    models = {
        "slow-a": FakeModel(reply="Answer A", latency_s=0.3),
        "slow-b": FakeModel(reply="Answer B", latency_s=0.3),
        "slow-c": FakeModel(reply="Answer C", latency_s=0.3),
        "broken": FakeModel(fail_status=400),
        "hangs": FakeModel(hang=True),
        "ok": FakeModel(reply="Answer: 22 days [1]"),
    }
    with FakeOpenAIServer(models) as server:
        yield server


async def _variant(
    client: httpx.AsyncClient, auth: dict[str, str], server: FakeOpenAIServer, model: str, **kw: object
) -> int:
    endpoint = await create_endpoint(
        client,
        auth,
        name=f"ep-{model}",
        base_url=server.base_url,
        model=model,
        **kw.pop("endpoint", {}),  # type: ignore[arg-type]
    )
    variant = await create_variant(client, auth, endpoint["id"], name=f"var-{model}", **kw)
    return int(variant["id"])


async def test_variants_run_concurrently(
    client: httpx.AsyncClient, auth: dict[str, str], fake_server: FakeOpenAIServer
) -> None:
    ids = [await _variant(client, auth, fake_server, m) for m in ("slow-a", "slow-b", "slow-c")]
    fake_server.max_in_flight = 0
    response = await client.post(
        "/api/v1/comparisons", json={"query": "hi", "variant_ids": ids}, headers=auth
    )
    assert response.status_code == 201
    outputs = response.json()["outputs"]
    assert [o["text"] for o in outputs] == ["Answer A", "Answer B", "Answer C"]
    assert all(o["latency_ms"] >= 300 for o in outputs)
    # All three were waiting on the model at the same moment (a wall-clock bound would flake under load).
    assert fake_server.max_in_flight == 3


async def test_a_failing_and_a_hanging_variant_do_not_hide_the_others(
    client: httpx.AsyncClient, auth: dict[str, str], fake_server: FakeOpenAIServer
) -> None:
    good = await _variant(client, auth, fake_server, "ok")
    broken = await _variant(client, auth, fake_server, "broken")
    hangs = await _variant(client, auth, fake_server, "hangs", endpoint={"timeout_s": 0.5})
    response = await client.post(
        "/api/v1/comparisons", json={"query": "hi", "variant_ids": [good, broken, hangs]}, headers=auth
    )
    assert response.status_code == 201
    by_variant = {o["variant"]["id"]: o for o in response.json()["outputs"]}
    assert by_variant[good]["error"] is None and by_variant[good]["text"] == "Answer: 22 days [1]"
    assert "400" in by_variant[broken]["error"]
    assert "timed out" in by_variant[hangs]["error"]
    assert by_variant[hangs]["latency_ms"] < 5000
    stored = (await client.get(f"/api/v1/comparisons/{response.json()['id']}", headers=auth)).json()
    assert [o["status"] for o in stored["outputs"]] == ["done", "error", "error"]


async def test_outputs_record_usage_cost_and_timing(
    client: httpx.AsyncClient, auth: dict[str, str], fake_server: FakeOpenAIServer
) -> None:
    variant = await _variant(
        client,
        auth,
        fake_server,
        "ok",
        endpoint={"price_prompt_per_m": 2.0, "price_completion_per_m": 10.0},
        system_prompt="Be brief.",
    )
    output = (
        await client.post(
            "/api/v1/comparisons", json={"query": "How many?", "variant_ids": [variant]}, headers=auth
        )
    ).json()["outputs"][0]
    assert output["prompt_tokens"] > 0 and output["completion_tokens"] > 0
    expected = (output["prompt_tokens"] * 2.0 + output["completion_tokens"] * 10.0) / 1_000_000
    assert output["cost_usd"] == pytest.approx(expected)
    assert 0 < output["ttft_ms"] <= output["latency_ms"]
    sent = fake_server.requests[-1]
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "How many?"},
    ]


async def test_rag_output_carries_its_contexts_and_the_answer_is_what_was_stored(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    fake_server: FakeOpenAIServer,
    state,  # type: ignore[no-untyped-def]
) -> None:
    kb = await state.knowledge.create("policies")
    await state.knowledge.ingest_text(
        kb.id,
        title="Vacation",
        source="vacation.md",
        text="# Vacation\n\nNew employees receive 22 vacation days in their first year.",
    )
    await state.knowledge.ingest_text(
        kb.id,
        title="Expenses",
        source="expenses.md",
        text="# Expenses\n\nMeals are capped at EUR 45 per day.",
    )
    variant = await _variant(
        client, auth, fake_server, "ok", strategy="rag", knowledge_base_id=kb.id, top_k=2
    )
    broken = await _variant(client, auth, fake_server, "broken", endpoint={"price_prompt_per_m": 1.0})
    answer = (
        await client.post(
            "/api/v1/comparisons",
            json={
                "query": "How many vacation days do new employees get?",
                "variant_ids": [broken, variant],
                "dataset": "policies",
                "tags": ["hr", "b-first"],
            },
            headers=auth,
        )
    ).json()
    failed, output = answer["outputs"]
    assert [c["source"] for c in output["contexts"]] == ["vacation.md", "expenses.md"]
    assert output["contexts"][0]["score"] > output["contexts"][1]["score"]
    prompt = fake_server.requests[-1]["messages"][-1]["content"]
    assert "[1] (vacation.md - Vacation) New employees receive 22 vacation days" in prompt
    assert failed["status"] == "error" and failed["text"] == "" and failed["prompt"]
    # The answer is built from what the run wrote, not read back: it must be exactly what is stored.
    assert (await client.get(f"/api/v1/comparisons/{answer['id']}", headers=auth)).json() == answer


async def test_outputs_left_pending_by_a_crash_are_marked_interrupted(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    state,  # type: ignore[no-untyped-def]
) -> None:
    endpoint = await create_endpoint(client, auth)
    await create_variant(client, auth, endpoint["id"])
    comparison_id = (await state.runner.create("hi", None, created_by="test")).id  # stored, never run: a crash
    # Its lease still runs: as far as anyone knows its process is answering it (another process may be).
    assert await state.runner.fail_interrupted() == 0
    async with state.sessions.begin() as session:  # nobody renews it: the lease lapses
        await session.execute(update(Output).where(Output.comparison_id == comparison_id).values(lease_until=utcnow()))
    assert await state.runner.fail_interrupted() == 1
    stored = (await client.get(f"/api/v1/comparisons/{comparison_id}", headers=auth)).json()
    assert stored["outputs"][0]["status"] == "error"
    assert "interrupted" in stored["outputs"][0]["error"]


async def test_endpoint_address_is_checked_again_at_call_time(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    fake_server: FakeOpenAIServer,
    state,  # type: ignore[no-untyped-def]
) -> None:
    variant = await _variant(client, auth, fake_server, "ok")
    calls = len(fake_server.requests)
    state.gateway.allow_private = (
        False  # as if the setting changed, or the host now resolved privately
    )
    response = await client.post(
        "/api/v1/comparisons", json={"query": "hi", "variant_ids": [variant]}, headers=auth
    )
    output = response.json()["outputs"][0]
    assert (
        output["status"] == "error" and "endpoint refused" in output["error"] and "private" in output["error"]
    )
    assert len(fake_server.requests) == calls  # nothing was sent
