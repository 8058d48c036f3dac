"""Watching a comparison blind while it is answered: the raw event stream a rater receives names no variant,
endpoint or model and carries no latency or token count; `together` sends no answer before all are in; the
labels watched are the labels rated."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI

from app.state import AppState
from tests.conftest import browser, sign_in
from tests.factories import PASSWORD, create_endpoint, create_variant, make_user
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer
from tests.streaming import Event, StreamingASGITransport, read_all

ANSWERS = {"Zebra-variant": "zebra says twenty two days " * 4, "Yak-variant": "yak says twenty days " * 6}
MODELS = {"Zebra-variant": "zebra-model-x", "Yak-variant": "yak-model-y"}


@pytest.fixture(scope="module")
def slow_llm() -> Iterator[FakeOpenAIServer]:
    models = {MODELS[name]: FakeModel(reply=text.strip(), token_delay_s=0.03) for name, text in ANSWERS.items()}
    with FakeOpenAIServer(models) as server:
        yield server


@pytest.fixture
async def rita(app: FastAPI, state: AppState, client: httpx.AsyncClient) -> AsyncIterator[httpx.AsyncClient]:
    """A rater signed in to the pages, reading streams as they are sent."""
    await make_user(state, "rita", "rater")
    async with httpx.AsyncClient(transport=StreamingASGITransport(app), base_url="http://127.0.0.1:8000") as http:
        async with browser(app) as signing:
            await sign_in(signing, "rita", PASSWORD)
            http.cookies = signing.cookies
        yield http


async def running_comparison(client: httpx.AsyncClient, auth: dict[str, str], llm: FakeOpenAIServer) -> int:
    for name, model in MODELS.items():
        endpoint = await create_endpoint(client, auth, name=f"{name}-endpoint", base_url=llm.base_url, model=model)
        await create_variant(client, auth, endpoint["id"], name=name, strategy="few_shot")
    page = await client.get("/")
    token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert token
    variants = (await client.get("/api/v1/variants", headers=auth)).json()
    form = {"query": "How many vacation days?", "variant_ids": [str(v["id"]) for v in variants], "csrf_token": token[1]}
    created = await client.post("/comparisons", data=form)
    assert created.status_code == 303
    return int(created.headers["location"].rsplit("/", 1)[1])


def identity_in(events: list[Event]) -> list[str]:
    raw = "\n".join(f"{e.event} {e.id} {e.data}" for e in events)
    words = [*ANSWERS, *MODELS.values(), "127.0.0.1:", "latency", "ttft", "tokens", "output-", '"id"', "variant"]
    return [word for word in words if word.lower() in raw.lower()]


async def test_the_blind_stream_carries_labels_and_text_only(
    rita: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str], slow_llm: FakeOpenAIServer
) -> None:
    comparison_id = await running_comparison(client, auth, slow_llm)
    page = await rita.get(f"/comparisons/{comparison_id}/rate")
    assert page.status_code == 200
    assert f'/comparisons/{comparison_id}/rate/stream" sse-close' in page.text
    assert not [name for name in [*ANSWERS, *MODELS.values()] if name in page.text]
    async with rita.stream("GET", f"/comparisons/{comparison_id}/rate/stream") as response:
        assert response.status_code == 200
        events = await read_all(response)
    assert {e.event for e in events} == {"answer-A", "answer-B", "progress", "end"}
    assert identity_in(events) == []
    assert all(e.id is None for e in events)
    # The labels watched are the labels rated: each label's last answer is the text the form shows under it.
    last = {e.event.removeprefix("answer-"): e.data for e in events if e.event.startswith("answer-")}
    rate = (await rita.get(f"/comparisons/{comparison_id}/rate")).text
    for label, html in last.items():
        column = rate.split(f'id="label-{label}"', 1)[1].split("</article>", 1)[0]
        assert re.sub(r"<[^>]+>", "", html).strip() in column
    # Several steps per answer, not just the whole answer at the end.
    assert sum(1 for e in events if e.event == "answer-A") >= 3


async def test_together_sends_no_answer_before_all_are_in(
    rita: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str], slow_llm: FakeOpenAIServer
) -> None:
    comparison_id = await running_comparison(client, auth, slow_llm)
    page = await rita.get(f"/comparisons/{comparison_id}/rate?together=true")
    assert "rate/stream?together=true" in page.text and 'sse-swap="answer-' not in page.text
    async with rita.stream("GET", f"/comparisons/{comparison_id}/rate/stream?together=true") as response:
        events = await read_all(response)
    assert [e.event for e in events] == ["progress", "progress", "end"]
    assert [e.data for e in events[:2]] == ["1 of 2 answers are in", "2 of 2 answers are in"]


async def test_a_review_queue_holds_the_answers_back_by_default(
    rita: httpx.AsyncClient, client: httpx.AsyncClient, auth: dict[str, str], slow_llm: FakeOpenAIServer
) -> None:
    comparison_id = await running_comparison(client, auth, slow_llm)
    queue = await client.post("/api/v1/queues", json={"name": "q", "comparison_ids": [comparison_id]}, headers=auth)
    assert queue.status_code == 201 and queue.json()["reveal_together"] is True
    page = await rita.get(f"/comparisons/{comparison_id}/rate?queue={queue.json()['id']}")
    assert "rate/stream?together=true" in page.text
    live = await client.post(
        "/api/v1/queues",
        json={"name": "live", "comparison_ids": [comparison_id], "reveal_together": False},
        headers=auth,
    )
    page = await rita.get(f"/comparisons/{comparison_id}/rate?queue={live.json()['id']}")
    assert f'/comparisons/{comparison_id}/rate/stream" sse-close' in page.text
    for _ in range(200):  # let the answers finish before the tables are emptied
        if "rating-form" in (await rita.get(f"/comparisons/{comparison_id}/rate")).text:
            break
        await asyncio.sleep(0.05)
