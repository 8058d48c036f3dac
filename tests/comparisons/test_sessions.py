"""Comparison sessions: a conversation with several variants at once. Each variant's prompt carries only its
own earlier answers; turns follow one another; raters rate each turn blind under the same labels and learn who
wrote what once every turn is rated."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from app.state import AppState
from tests.factories import create_endpoint, create_variant, make_user
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer

REPLIES = {"otter": "Otter says: twenty-two days.", "heron": "Heron says: twenty days."}
QUESTIONS = ["How many vacation days?", "And for part-time staff?", "Who approves them?"]


@pytest.fixture(scope="module")
def llm() -> Iterator[FakeOpenAIServer]:
    models = {name: FakeModel(reply=reply) for name, reply in REPLIES.items()}
    models["slowpoke"] = FakeModel(reply="eventually", latency_s=1.0)
    with FakeOpenAIServer(models) as server:
        yield server


async def two_variants(client: httpx.AsyncClient, auth: dict[str, str], llm: FakeOpenAIServer) -> list[int]:
    ids = []
    for name in REPLIES:
        endpoint = await create_endpoint(client, auth, name=name, base_url=llm.base_url, model=name)
        ids.append((await create_variant(client, auth, endpoint["id"], name=f"{name} variant", strategy="few_shot"))["id"])
    return ids


async def three_turns(client: httpx.AsyncClient, auth: dict[str, str], llm: FakeOpenAIServer) -> dict[str, Any]:
    ids = await two_variants(client, auth, llm)
    started = await client.post("/api/v1/sessions", json={"query": QUESTIONS[0], "variant_ids": ids}, headers=auth)
    assert started.status_code == 201, started.text
    session_id = started.json()["id"]
    for question in QUESTIONS[1:]:
        turn = await client.post(f"/api/v1/sessions/{session_id}/turns", json={"query": question}, headers=auth)
        assert turn.status_code == 201, turn.text
        assert turn.json()["session_id"] == session_id
    session = await client.get(f"/api/v1/sessions/{session_id}", headers=auth)
    assert session.status_code == 200
    return dict(session.json())


async def test_each_variant_s_history_holds_only_its_own_answers(
    client: httpx.AsyncClient, auth: dict[str, str], llm: FakeOpenAIServer
) -> None:
    session = await three_turns(client, auth, llm)
    assert [t["turn"] for t in session["turns"]] == [1, 2, 3]
    assert [t["query"] for t in session["turns"]] == QUESTIONS
    for model, reply in REPLIES.items():
        (last,) = [r for r in llm.requests if r["model"] == model and r["messages"][-1]["content"] == QUESTIONS[2]]
        turns = [(m["role"], m["content"]) for m in last["messages"] if m["role"] != "system"]
        assert turns == [
            ("user", QUESTIONS[0]), ("assistant", reply), ("user", QUESTIONS[1]), ("assistant", reply), ("user", QUESTIONS[2])
        ], f"{model} saw {turns}"
        other = next(r for m, r in REPLIES.items() if m != model)
        assert other not in str(last["messages"])
    # What was sent is what is stored: the third turn's prompt carries the history.
    third = session["turns"][2]["outputs"][0]
    assert [m["content"] for m in third["prompt"] if m["role"] == "user"] == QUESTIONS


async def test_a_turn_waits_for_the_one_before_and_a_stranger_cannot_add_one(
    client: httpx.AsyncClient, auth: dict[str, str], llm: FakeOpenAIServer, state: AppState
) -> None:
    endpoint = await create_endpoint(client, auth, name="slowpoke", base_url=llm.base_url, model="slowpoke")
    variant = await create_variant(client, auth, endpoint["id"], name="slowpoke", strategy="few_shot")
    body = {"query": "Take your time.", "variant_ids": [variant["id"]], "stream": True}
    async with client.stream("POST", "/api/v1/sessions", json=body, headers=auth) as response:
        assert response.status_code == 201
        first = await response.aread()
    session_id = int(re.search(rb'"session_id":\s*(\d+)', first)[1])  # type: ignore[index]
    rita = await make_user(state, "rita", "rater")
    refused = await client.post(f"/api/v1/sessions/{session_id}/turns", json={"query": "Me too?"}, headers=rita)
    assert refused.status_code == 403
    ok = await client.post(f"/api/v1/sessions/{session_id}/turns", json={"query": "Next?"}, headers=auth)
    assert ok.status_code == 201 and ok.json()["turn"] == 2
    missing = await client.post("/api/v1/sessions/999999/turns", json={"query": "?"}, headers=auth)
    assert missing.status_code == 404
    empty = await client.post(f"/api/v1/sessions/{session_id}/turns", json={"query": "  "}, headers=auth)
    assert empty.status_code == 422


async def test_a_pending_turn_refuses_the_next(
    client: httpx.AsyncClient, auth: dict[str, str], llm: FakeOpenAIServer, state: AppState
) -> None:
    endpoint = await create_endpoint(client, auth, name="slowpoke", base_url=llm.base_url, model="slowpoke")
    variant = await create_variant(client, auth, endpoint["id"], name="slowpoke", strategy="few_shot")
    session = await client.post("/api/v1/sessions", json={"query": "One.", "variant_ids": [variant["id"]]}, headers=auth)
    session_id = session.json()["id"]
    running = asyncio.create_task(
        client.post(f"/api/v1/sessions/{session_id}/turns", json={"query": "Two."}, headers=auth)
    )
    await asyncio.sleep(0.3)
    early = await client.post(f"/api/v1/sessions/{session_id}/turns", json={"query": "Three?"}, headers=auth)
    assert early.status_code == 409 and "still being answered" in early.text
    assert (await running).status_code == 201


async def test_a_comparison_is_continued_from_its_page(
    client: httpx.AsyncClient, auth: dict[str, str], llm: FakeOpenAIServer
) -> None:
    ids = await two_variants(client, auth, llm)
    comparison = (await client.post("/api/v1/comparisons", json={"query": QUESTIONS[0], "variant_ids": ids}, headers=auth)).json()
    page = await client.get(f"/comparisons/{comparison['id']}")
    assert "Follow-up question" in page.text
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)[1]  # type: ignore[index]
    posted = await client.post(f"/comparisons/{comparison['id']}/follow-up", data={"query": QUESTIONS[1], "csrf_token": token})
    assert posted.status_code == 303
    session_url = posted.headers["location"]
    for _ in range(100):
        shown = await client.get(session_url)
        if "still answering" not in shown.text:
            break
        await asyncio.sleep(0.05)
    assert shown.status_code == 200 and "Turn 1" in shown.text and "Turn 2" in shown.text
    # Both turns' answers, and turn 2's exact prompt, which carries the turn 1 answer as history.
    assert shown.text.count(REPLIES["otter"]) == 3
    # An empty follow-up keeps the page and says why.
    again = await client.post(session_url + "/turns", data={"query": " ", "csrf_token": token})
    assert again.status_code == 422 and "query must not be empty" in again.text
    listed = (await client.get("/api/v1/sessions", headers=auth)).json()
    assert listed[0]["turn_count"] == 2 and listed[0]["title"] == QUESTIONS[0]
    # Continuing it again over REST finds the same session.
    same = await client.post("/api/v1/sessions", json={"comparison_id": comparison["id"]}, headers=auth)
    assert same.status_code == 201 and same.json()["id"] == int(session_url.rsplit("/", 1)[1])


async def test_raters_rate_each_turn_blind_and_learn_who_wrote_what_after_the_last(
    client: httpx.AsyncClient, auth: dict[str, str], llm: FakeOpenAIServer, state: AppState
) -> None:
    session = await three_turns(client, auth, llm)
    rita = await make_user(state, "rita", "rater")
    assert (await client.get(f"/api/v1/sessions/{session['id']}", headers=rita)).status_code == 403
    labels: list[dict[str, str]] = []
    for number, turn in enumerate(session["turns"], start=1):
        blind = (await client.get(f"/api/v1/comparisons/{turn['id']}/blind", headers=rita)).json()
        labels.append({o["label"]: o["text"] for o in blind["outputs"]})
        scores = {label: {"correctness": 3, "helpfulness": 3, "format": 3} for label in labels[-1]}
        rated = await client.post(f"/api/v1/comparisons/{turn['id']}/ratings", json={"scores": scores}, headers=rita)
        assert rated.status_code == 201, rated.text
        if number < 3:
            assert rated.json()["withheld"] and all(o["variant"] is None for o in rated.json()["outputs"])
            assert (await client.get(f"/api/v1/comparisons/{turn['id']}", headers=rita)).status_code == 403
        else:
            assert rated.json()["withheld"] is None
            assert {o["variant"] for o in rated.json()["outputs"]} == {"otter variant", "heron variant"}
    assert labels[0] == labels[1] == labels[2]  # the same label is the same variant in every turn
    assert (await client.get(f"/api/v1/sessions/{session['id']}", headers=rita)).status_code == 200
    assert (await client.get(f"/api/v1/comparisons/{session['turns'][0]['id']}", headers=rita)).status_code == 200
    rate_page = await client.get(f"/comparisons/{session['turns'][2]['id']}/rate")
    assert "Earlier in this conversation" in rate_page.text and QUESTIONS[1] in rate_page.text
