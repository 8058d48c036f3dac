"""Blind integrity as a rule over every route: a rater learns nothing of a comparison they have not rated —
not its variants, not its other ratings, not even through an aggregate (leaderboard, metrics, history)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update

from app.models import ChunkJudgement, Output, Variant, VariantVersion
from app.state import AppState
from tests.conftest import csrf_of, sign_in
from tests.factories import PASSWORD, answering_variants, make_user, rate_as
from tests.fakes.fake_openai import FakeOpenAIServer

NAMES = {"Zephyr prompt": "alpha", "Quokka retrieval": "beta"}
CONTEXTS = [
    {"source": "handbook.md", "text": "Vacation: 22 days.", "score": 0.9},
    {"source": "benefits.md", "text": "Holidays.", "score": 0.5},
]


@pytest.fixture
async def world(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake_llm: FakeOpenAIServer
) -> dict[str, Any]:
    """Comparison `hidden` (dataset "secret-set", tag "secret-tag") rated by omar only; rita, a rater, has
    rated nothing. Its first output carries two retrieved chunks, and omar marked one relevant."""
    await answering_variants(client, auth, fake_llm.base_url, NAMES)
    hidden = await client.post(
        "/api/v1/comparisons",
        json={"query": "How many vacation days?", "dataset": "secret-set", "tags": ["secret-tag"]},
        headers=auth,
    )
    assert hidden.status_code == 201
    comparison = hidden.json()
    # Make "Quokka retrieval" a RAG variant whose answer retrieved two chunks (no knowledge base needed).
    rag_output = next(o["id"] for o in comparison["outputs"] if o["variant"]["name"] == "Quokka retrieval")
    async with state.sessions.begin() as session:
        await session.execute(update(Output).where(Output.id == rag_output).values(contexts=CONTEXTS))
        await session.execute(update(Variant).where(Variant.name == "Quokka retrieval").values(strategy="rag"))
        quokka = select(Variant.id).where(Variant.name == "Quokka retrieval").scalar_subquery()
        await session.execute(update(VariantVersion).where(VariantVersion.variant_id == quokka).values(top_k=2))
    omar = await make_user(state, "omar", "rater")
    await rate_as(client, omar, comparison["id"], {"Zephyr prompt": 5, "Quokka retrieval": 1})
    judged = await client.put(
        f"/api/v1/outputs/{rag_output}/contexts/1/judgement", json={"relevant": True}, headers=omar
    )
    assert judged.status_code == 204
    return {
        "comparison": comparison,
        "rag_output": rag_output,
        "rita": await make_user(state, "rita", "rater"),
        "omar": omar,
    }


def _leaks(text: str) -> list[str]:
    return [name for name in [*NAMES, "alpha", "beta", "omar"] if name in text]


async def test_no_route_tells_a_rater_anything_about_an_unrated_comparison(
    app: Any, world: dict[str, Any], state: AppState
) -> None:
    cid, rita = world["comparison"]["id"], world["rita"]
    output = world["rag_output"]
    api_reads = [
        f"/api/v1/comparisons/{cid}",
        f"/api/v1/comparisons/{cid}/ratings/mine",
        "/api/v1/leaderboard",
        "/api/v1/leaderboard?dataset=secret-set",
        "/api/v1/leaderboard?tag=secret-tag",
        "/api/v1/retrieval-metrics",
        "/api/v1/exports/ratings.csv?dataset=secret-set",
        "/api/v1/exports/chat.jsonl?tag=secret-tag",
    ]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1:8000") as http:
        for path in api_reads:
            answer = await http.get(path, headers=rita)
            assert answer.status_code in (200, 403, 404), (path, answer.status_code)
            assert not _leaks(answer.text), (path, _leaks(answer.text))
        board = (await http.get("/api/v1/leaderboard?dataset=secret-set", headers=rita)).json()
        assert board["standings"] == [] and board["ratings"] == 0 and board["raters"] == 0
        assert (await http.get("/api/v1/retrieval-metrics", headers=rita)).json() == []
        assert len((await http.get("/api/v1/retrieval-metrics", headers=world["omar"])).json()) == 1
        history = (await http.get("/api/v1/comparisons", headers=rita)).json()
        assert history[0]["rating_count"] is None and history[0]["error_count"] is None
        # Output-level routes: 404 exactly as for an output that does not exist, and nothing stored.
        missing = await http.put(
            "/api/v1/outputs/999999/contexts/1/judgement", json={"relevant": True}, headers=rita
        )
        for rank in (1, 99):
            probe = await http.put(
                f"/api/v1/outputs/{output}/contexts/{rank}/judgement", json={"relevant": True}, headers=rita
            )
            assert probe.status_code == 404
            assert probe.json()["detail"] == missing.json()["detail"].replace("999999", str(output))
        # The blind view itself carries labels and texts only.
        blind = await http.get(f"/api/v1/comparisons/{cid}/blind", headers=rita)
        assert blind.status_code == 200 and not _leaks(blind.text)
    async with state.sessions() as session:
        marks = await session.scalar(select(func.count()).select_from(ChunkJudgement).where(ChunkJudgement.rater == "rita"))
    assert marks == 0


async def test_pages_tell_a_rater_nothing_either(app: Any, world: dict[str, Any]) -> None:
    cid, output = world["comparison"]["id"], world["rag_output"]
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as rita:
        await sign_in(rita, "rita", PASSWORD)
        for path in (
            f"/comparisons/{cid}",
            f"/comparisons/{cid}/columns",
            "/comparisons",
            "/leaderboard?dataset=secret-set",
            "/leaderboard?tag=secret-tag",
            "/exports/ratings.csv?dataset=secret-set",
        ):
            page = await rita.get(path)
            assert page.status_code in (200, 303, 403), (path, page.status_code)
            assert not _leaks(page.text), (path, _leaks(page.text))
        token = await csrf_of(rita)
        marked = await rita.post(
            f"/outputs/{output}/contexts/1/judgement",
            data={"csrf_token": token, "relevant": "yes"},
            headers={"HX-Request": "true"},
        )
        assert marked.status_code == 404


async def test_once_rated_the_rater_sees_that_comparison_counted(
    client: httpx.AsyncClient, world: dict[str, Any]
) -> None:
    cid, rita = world["comparison"]["id"], world["rita"]
    await rate_as(client, rita, cid, {"Zephyr prompt": 4, "Quokka retrieval": 2})
    board = (await client.get("/api/v1/leaderboard?dataset=secret-set", headers=rita)).json()
    # Both raters' ratings of a comparison rita has rated count on her board.
    assert board["ratings"] == 2 and {s["name"] for s in board["standings"]} == set(NAMES)
    metrics = (await client.get("/api/v1/retrieval-metrics", headers=rita)).json()
    assert [m["outputs_judged"] for m in metrics] == [1]
    judged = await client.put(
        f"/api/v1/outputs/{world['rag_output']}/contexts/2/judgement", json={"relevant": False}, headers=rita
    )
    assert judged.status_code == 204


async def test_admins_and_viewers_see_everything(
    client: httpx.AsyncClient, auth: dict[str, str], world: dict[str, Any], state: AppState
) -> None:
    viewer = await make_user(state, "vera", "viewer")
    for headers in (auth, viewer):
        board = (await client.get("/api/v1/leaderboard?dataset=secret-set", headers=headers)).json()
        assert board["ratings"] == 1 and len(board["standings"]) == 2
        history = (await client.get("/api/v1/comparisons", headers=headers)).json()
        assert history[0]["rating_count"] == 1
