"""Blind rating and review queues in the browser."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI

from app.state import AppState
from tests.conftest import browser, csrf_of, sign_in
from tests.factories import PASSWORD, answering_variants, make_user
from tests.fakes.fake_openai import FakeOpenAIServer

NAMES = {"Zephyr prompt": "alpha", "Quokka retrieval": "beta"}
STRATEGY_WORDS = re.compile(
    r"\b(few_shot|rag|fine_tuned|rag_fine_tuned|few-shot|fine-tuned)\b", re.IGNORECASE
)


@pytest.fixture
async def asked(client: httpx.AsyncClient, auth: dict[str, str], fake_llm: FakeOpenAIServer) -> list[int]:
    await answering_variants(client, auth, fake_llm.base_url, NAMES)
    ids = []
    for q in ("How many vacation days?", "Can I work remotely?", "Who approves expenses?"):
        response = await client.post(
            "/api/v1/comparisons", json={"query": q, "dataset": "hr", "tags": ["policy"]}, headers=auth
        )
        ids.append(response.json()["id"])
    return ids


@pytest.fixture
async def rater(app: FastAPI, state: AppState, client: httpx.AsyncClient) -> httpx.AsyncClient:
    """Signed in after the local admin (`client`): the one-click admin is gone once accounts exist."""
    await make_user(state, "rita", "rater")
    http = browser(app)
    await sign_in(http, "rita", PASSWORD)
    return http


def _form(page: str, token: str, ranks: dict[str, int], score: int = 4) -> dict[str, str]:
    labels = re.findall(r'id="label-([A-L])"', page)
    data = {"csrf_token": token, "comment": "fine", "corrected_answer": "22 days."}
    for label in labels:
        for dim in ("correctness", "helpfulness", "format"):
            data[f"score-{label}-{dim}"] = str(score)
        data[f"rank-{label}"] = str(ranks.get(label, 2))
    return data


async def test_rater_sees_only_labels_until_saving_then_the_reveal(
    rater: httpx.AsyncClient, asked: list[int], client: httpx.AsyncClient
) -> None:
    cid = asked[0]
    redirected = await rater.get(f"/comparisons/{cid}")
    assert redirected.status_code == 303 and redirected.headers["location"].endswith(
        f"/comparisons/{cid}/rate"
    )
    page = await rater.get(f"/comparisons/{cid}/rate")
    assert page.status_code == 200 and "Answer A" in page.text and "Answer B" in page.text
    for name in NAMES:
        assert name not in page.text
    assert not STRATEGY_WORDS.search(page.text) and "badge-" not in page.text
    main = re.search(r"<main.*</main>", page.text, re.S).group(0)  # type: ignore[union-attr]
    assert " ms" not in main and "$" not in main and "tokens" not in main  # no latency, cost or length
    assert (await rater.get(f"/comparisons/{cid}/columns")).status_code == 403
    token = await csrf_of(rater)
    saved = await rater.post(f"/comparisons/{cid}/rate", data=_form(page.text, token, {"A": 1, "B": 2}))
    assert saved.status_code == 303
    reveal = await rater.get(saved.headers["location"])
    assert "Who wrote what" in reveal.text and all(name in reveal.text for name in NAMES)
    assert "Update rating" in reveal.text and "22 days." in reveal.text
    assert (await rater.get(f"/comparisons/{cid}")).status_code == 200  # the full page opens after rating


async def test_an_incomplete_form_keeps_what_was_entered(rater: httpx.AsyncClient, asked: list[int]) -> None:
    cid = asked[0]
    page = await rater.get(f"/comparisons/{cid}/rate")
    data = _form(page.text, await csrf_of(rater), {"A": 1, "B": 1}, score=5)
    del data["score-B-format"]
    data["comment"] = "<b>bold</b> claim"
    response = await rater.post(f"/comparisons/{cid}/rate", data=data)
    assert response.status_code == 422
    assert "B: choose a format score from 1 to 5" in response.text
    assert re.search(r'name="score-A-format" value="5"\s+required\s+checked', response.text)
    assert "&lt;b&gt;bold&lt;/b&gt; claim" in response.text and "<b>bold</b>" not in response.text
    assert "Who wrote what" not in response.text


async def test_viewers_cannot_open_the_rating_form(
    app: FastAPI, state: AppState, asked: list[int], client: httpx.AsyncClient
) -> None:
    await make_user(state, "vic", "viewer")
    async with browser(app) as http:
        await sign_in(http, "vic", PASSWORD)
        assert (await http.get(f"/comparisons/{asked[0]}/rate")).status_code == 403
        page = await http.get(f"/comparisons/{asked[0]}")
        assert page.status_code == 200 and "Rate these answers blind" not in page.text


async def test_a_queue_hands_out_the_next_item_and_counts_progress(
    client: httpx.AsyncClient, rater: httpx.AsyncClient, asked: list[int], auth: dict[str, str]
) -> None:
    token = await csrf_of(client)
    bad = await client.post("/queues", data={"csrf_token": token, "name": "Q", "comparison_ids": "1, x"})
    assert bad.status_code == 422 and "whole numbers" in bad.text
    created = await client.post(
        "/queues", data={"csrf_token": token, "name": "HR week", "raters_per_item": "1", "dataset": "hr"}
    )
    assert created.status_code == 303
    queue_url = created.headers["location"]
    queue_id = int(queue_url.rsplit("/", 1)[1])
    page = await rater.get(queue_url)
    assert "0 of 3 comparisons" in page.text and "3 left for you" in page.text
    first = re.search(r'href="([^"]+/rate\?queue=\d+)"', page.text).group(1)  # type: ignore[union-attr]
    assert f"/comparisons/{asked[0]}/rate" in first
    form = await rater.get(first)
    token = await csrf_of(rater)
    answered = await rater.post(
        f"/comparisons/{asked[0]}/rate?queue={queue_id}", data=_form(form.text, token, {"A": 1})
    )
    assert answered.status_code == 303
    assert (
        f"/comparisons/{asked[1]}/rate?queue={queue_id}&previous={asked[0]}" in answered.headers["location"]
    )
    # The admin rates the second; with one rater wanted per item, the rater is handed the third next.
    progress = (await client.get(f"/api/v1/queues/{queue_id}", headers=auth)).json()
    assert progress["complete"] == 1 and progress["raters"] == [{"rater": "rita", "rated": 1}]
    nxt = (await client.get(f"/api/v1/queues/{queue_id}/next", headers=auth)).json()
    assert nxt == {"comparison_id": asked[1], "left_for_me": 2}
