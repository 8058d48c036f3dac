"""Comparisons streamed over server-sent events (REST): the order of events, the stored answer equal to what
was streamed for each provider, replay on reconnect without a second model call, Stop, and the blind rule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.comparisons.feed import Cursor
from app.core.settings import BUNDLED_MODEL_ID
from app.localmodels.registry import ModelRegistry
from app.localmodels.server import create_app as create_model_app
from app.state import AppState
from tests.factories import create_endpoint, create_variant, make_user
from tests.fakes.fake_anthropic import FakeAnthropicServer
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer
from tests.servers import ServerThread
from tests.streaming import Event, StreamingASGITransport, read_all, sse_events

LONG = " ".join(f"w{i}" for i in range(40))


@pytest.fixture
async def live(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client that reads responses as they are sent."""
    async with httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://127.0.0.1:8000") as http:
        yield http


@pytest.fixture(scope="module")
def slow_llm() -> Iterator[FakeOpenAIServer]:
    models = {
        "quick": FakeModel(reply="Twenty-two days, says the handbook.", token_delay_s=0.01),
        "slow": FakeModel(reply=LONG, token_delay_s=0.05),
        "broken": FakeModel(fail_status=400),
    }
    with FakeOpenAIServer(models) as server:
        yield server


def check_stream(events: list[Event], output_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The stream's rules: `comparison` first and `end` last; each output's deltas are contiguous from offset 0
    and come before its one final event, whose stored text is those deltas joined. Returns the final outputs."""
    assert events[0].event == "comparison" and events[-1].event == "end"
    assert [o["id"] for o in events[0].json()["outputs"]] == output_ids
    streamed: dict[int, str] = {oid: "" for oid in output_ids}
    final: dict[int, dict[str, Any]] = {}
    for event in events[1:-1]:
        data = event.json()
        if event.event == "delta":
            oid = data["output_id"]
            assert oid not in final, "a delta after the output was stored"
            assert data["offset"] == len(streamed[oid]), "a gap or a repeat in the deltas"
            streamed[oid] += data["text"]
        else:
            assert event.event in ("done", "error", "stopped") and data["status"] == event.event
            assert data["id"] not in final
            final[data["id"]] = data
            assert data["text"] == streamed[data["id"]]
    assert set(final) == set(output_ids)
    return final


async def stream_post(live: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]) -> list[Event]:
    async with live.stream("POST", "/api/v1/comparisons", json=body | {"stream": True}, headers=auth) as response:
        assert response.status_code == 201
        assert response.headers["content-type"].startswith("text/event-stream")
        return await read_all(response)


async def test_a_streamed_comparison_sends_deltas_then_each_output_as_stored(
    live: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str], slow_llm: FakeOpenAIServer
) -> None:
    quick = await create_endpoint(client, auth, name="quick", base_url=slow_llm.base_url, model="quick")
    slow = await create_endpoint(client, auth, name="slow", base_url=slow_llm.base_url, model="slow")
    broken = await create_endpoint(client, auth, name="broken", base_url=slow_llm.base_url, model="broken")
    ids = [
        (await create_variant(client, auth, e["id"], name=e["name"], strategy="few_shot"))["id"]
        for e in (quick, slow, broken)
    ]
    events = await stream_post(live, auth, {"query": "How many vacation days?", "variant_ids": ids})
    output_ids = [o["id"] for o in events[0].json()["outputs"]]
    final = check_stream(events, output_ids)
    by_variant = {o["variant"]["name"]: o for o in final.values()}
    assert by_variant["quick"]["text"] == "Twenty-two days, says the handbook."
    assert by_variant["slow"]["text"] == LONG
    assert by_variant["broken"]["status"] == "error" and by_variant["broken"]["error"]
    # The slow answer arrived in many deltas, the quick one finished first: columns finish on their own.
    deltas = [e.json()["output_id"] for e in events if e.event == "delta"]
    assert deltas.count(by_variant["slow"]["id"]) > 5
    order = [e.json()["id"] for e in events if e.event in ("done", "error")]
    assert order.index(by_variant["quick"]["id"]) < order.index(by_variant["slow"]["id"])
    stored = (await client.get(f"/api/v1/comparisons/{events[0].json()['id']}", headers=auth)).json()
    assert {o["id"]: o["text"] for o in stored["outputs"]} == {oid: o["text"] for oid, o in final.items()}
    assert by_variant["slow"]["ttft_ms"] is not None and by_variant["slow"]["completion_tokens"] == 40


async def test_an_anthropic_endpoint_streams_the_same_way(
    live: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    reply = "Claude says: twenty-two days, **bold** and `code`."
    with FakeAnthropicServer(reply, token_delay_s=0.05) as anthropic:
        endpoint = await create_endpoint(
            client, auth, name="claude", kind="anthropic", base_url=anthropic.base_url, model="claude-x"
        )
        variant = await create_variant(client, auth, endpoint["id"], name="claude", strategy="few_shot")
        events = await stream_post(live, auth, {"query": "Vacation?", "variant_ids": [variant["id"]]})
    final = check_stream(events, [events[0].json()["outputs"][0]["id"]])
    (output,) = final.values()
    assert output["status"] == "done" and output["text"] == reply
    assert sum(1 for e in events if e.event == "delta") > 3
    assert output["prompt_tokens"] == 9 and output["completion_tokens"] == len(reply.split(" "))


@pytest.mark.model
async def test_the_bundled_model_streams_the_same_way(
    live: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    registry = ModelRegistry.with_bundled(n_threads=2, n_ctx=1024)
    with ServerThread(create_model_app(registry)) as server:
        endpoint = await create_endpoint(client, auth, name="bundled", base_url=f"{server.url}/v1", model=BUNDLED_MODEL_ID)
        variant = await create_variant(client, auth, endpoint["id"], name="bundled", strategy="few_shot", max_tokens=24)
        events = await stream_post(live, auth, {"query": "Name a colour.", "variant_ids": [variant["id"]]})
    final = check_stream(events, [events[0].json()["outputs"][0]["id"]])
    (output,) = final.values()
    assert output["status"] == "done" and output["text"].strip()
    assert sum(1 for e in events if e.event == "delta") >= 2
    assert 0 < output["completion_tokens"] <= 24


async def test_a_reconnect_replays_from_the_cursor_without_calling_the_model_again(
    live: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str], slow_llm: FakeOpenAIServer
) -> None:
    endpoint = await create_endpoint(client, auth, name="slow", base_url=slow_llm.base_url, model="slow")
    variant = await create_variant(client, auth, endpoint["id"], name="slow", strategy="few_shot")
    calls_before = slow_llm.models["slow"].calls
    first: list[Event] = []
    body = {"query": "Tell me everything.", "variant_ids": [variant["id"]], "stream": True}
    async with live.stream("POST", "/api/v1/comparisons", json=body, headers=auth) as response:
        async for event in sse_events(response):
            first.append(event)
            if sum(1 for e in first if e.event == "delta") == 3:
                break  # the client drops the connection mid-answer
    comparison_id = first[0].json()["id"]
    assert first[-1].id is not None
    async with live.stream(
        "GET", f"/api/v1/comparisons/{comparison_id}/events", headers=auth | {"Last-Event-ID": first[-1].id}
    ) as response:
        assert response.status_code == 200
        rest = await read_all(response)
    # The second stream starts where the first broke off: together they are one stream.
    joined = first + rest[1:]
    final = check_stream(joined, [first[0].json()["outputs"][0]["id"]])
    assert next(iter(final.values()))["text"] == LONG
    assert slow_llm.models["slow"].calls == calls_before + 1
    # Without a cursor the whole answer is replayed from what is stored.
    replay = await client.get(f"/api/v1/comparisons/{comparison_id}/events", headers=auth)
    assert check_stream([_parse(e) for e in replay.text.split("\n\n") if e.strip() and not e.startswith(":")], list(final))
    assert slow_llm.models["slow"].calls == calls_before + 1


def _parse(block: str) -> Event:
    fields: dict[str, str] = {}
    data: list[str] = []
    for line in block.split("\n"):
        name, _, value = line.partition(": ")
        if name == "data":
            data.append(value)
        else:
            fields[name] = value
    return Event(fields["event"], "\n".join(data), fields.get("id"))


async def test_leaving_the_stream_does_not_lose_the_answer(
    live: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str], slow_llm: FakeOpenAIServer
) -> None:
    endpoint = await create_endpoint(client, auth, name="slow", base_url=slow_llm.base_url, model="slow")
    variant = await create_variant(client, auth, endpoint["id"], name="slow", strategy="few_shot")
    body = {"query": "Go on.", "variant_ids": [variant["id"]], "stream": True}
    async with live.stream("POST", "/api/v1/comparisons", json=body, headers=auth) as response:
        async for event in sse_events(response):
            if event.event == "delta":
                output_id = event.json()["output_id"]
                break
    for _ in range(200):
        output = (await client.get("/api/v1/comparisons?limit=1", headers=auth)).json()[0]
        stored = (await client.get(f"/api/v1/comparisons/{output['id']}", headers=auth)).json()["outputs"][0]
        if stored["status"] != "pending":
            break
        await asyncio.sleep(0.05)
    assert stored["id"] == output_id and stored["status"] == "done" and stored["text"] == LONG


async def test_stop_closes_the_model_call_and_stores_the_partial_answer(
    live: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str], slow_llm: FakeOpenAIServer
) -> None:
    endpoint = await create_endpoint(client, auth, name="slow", base_url=slow_llm.base_url, model="slow")
    variant = await create_variant(client, auth, endpoint["id"], name="slow", strategy="few_shot")
    disconnects = slow_llm.models["slow"].disconnects
    events: list[Event] = []
    body = {"query": "Ramble.", "variant_ids": [variant["id"]], "stream": True}
    async with live.stream("POST", "/api/v1/comparisons", json=body, headers=auth) as response:
        async for event in sse_events(response):
            events.append(event)
            if sum(1 for e in events if e.event == "delta") == 3:
                stopped = await client.post(f"/api/v1/comparisons/{events[0].json()['id']}/stop", headers=auth)
                assert stopped.status_code == 200, stopped.text
                assert stopped.json()["outputs"][0]["status"] == "stopped"
    final = check_stream(events, [events[0].json()["outputs"][0]["id"]])
    (output,) = final.values()
    assert output["status"] == "stopped" and output["error"] is None
    assert output["text"] and LONG.startswith(output["text"]) and len(output["text"]) < len(LONG)
    assert stopped.json()["outputs"][0]["text"] == output["text"]
    for _ in range(100):  # the fake sees its stream's connection closed
        if slow_llm.models["slow"].disconnects > disconnects:
            break
        await asyncio.sleep(0.02)
    assert slow_llm.models["slow"].disconnects == disconnects + 1
    # Stopping a finished comparison changes nothing.
    again = await client.post(f"/api/v1/comparisons/{events[0].json()['id']}/stop", headers=auth)
    assert again.status_code == 200 and again.json()["outputs"][0]["text"] == output["text"]


async def test_a_stop_asked_through_the_row_reaches_the_process_answering(
    live: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str], slow_llm: FakeOpenAIServer, state: AppState
) -> None:
    """Another web process can only mark the row: the process answering reads it at its next checkpoint."""
    from app.comparisons.repository import ComparisonRepository
    from app.models import utcnow

    endpoint = await create_endpoint(client, auth, name="slow", base_url=slow_llm.base_url, model="slow")
    variant = await create_variant(client, auth, endpoint["id"], name="slow", strategy="few_shot")
    body = {"query": "Ramble.", "variant_ids": [variant["id"]], "stream": True}
    async with live.stream("POST", "/api/v1/comparisons", json=body, headers=auth) as response:
        events = []
        async for event in sse_events(response):
            events.append(event)
            if event.event == "delta" and len(events) == 3:
                async with state.sessions.begin() as session:  # what another process's Stop does
                    await ComparisonRepository(session).request_stop(events[0].json()["id"], utcnow())
    assert events[-2].event == "stopped"
    assert LONG.startswith(events[-2].json()["text"]) and events[-2].json()["text"] != LONG


async def test_a_rater_who_has_not_rated_cannot_stream_or_stop_it(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake_llm: FakeOpenAIServer
) -> None:
    endpoint = await create_endpoint(client, auth, name="alpha", base_url=fake_llm.base_url, model="alpha")
    await create_variant(client, auth, endpoint["id"], name="alpha", strategy="few_shot")
    comparison = (await client.post("/api/v1/comparisons", json={"query": "Q?"}, headers=auth)).json()
    rita = await make_user(state, "rita", "rater")
    events = await client.get(f"/api/v1/comparisons/{comparison['id']}/events", headers=rita)
    assert events.status_code == 403 and "rate this comparison blind first" in events.text
    stop = await client.post(f"/api/v1/comparisons/{comparison['id']}/stop", headers=rita)
    assert stop.status_code == 403
    assert (await client.get("/api/v1/comparisons/999999/events", headers=auth)).status_code == 404


def test_a_cursor_reads_back_what_it_writes_and_ignores_garbage() -> None:
    cursor = Cursor.parse("12:340,13:f,14:0")
    assert cursor.offsets == {12: 340, 14: 0} and cursor.stored == {13}
    assert cursor.text([12, 13, 14]) == "12:340,13:f,14:0"
    for bad in ("12:-1", "x", "12:3,,", "1:" + "9" * 20, "a" * 3000, "12:3\n13:f"):
        parsed = Cursor.parse(bad)
        assert parsed.offsets == {} and parsed.stored == set()
