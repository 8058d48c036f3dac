"""One unit of work per request: a route that answers with an error — JSON, a page or a fragment — leaves the
database exactly as it was, even if it changed something before it found the problem."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from app.core.deps import SessionDep
from app.core.web import render
from app.models import Base, Endpoint
from app.state import AppState
from tests.conftest import csrf_of
from tests.factories import answering_variants, create_endpoint, create_variant
from tests.fakes.fake_openai import FakeOpenAIServer


async def snapshot(state: AppState) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (the tests compare before and after)."""
    rows = {}
    async with state.sessions() as session:
        for table in Base.metadata.sorted_tables:
            rows[table.name] = sorted(map(tuple, (await session.execute(select(table))).all()), key=repr)
    return rows


@pytest.mark.parametrize("status_code", [200, 422])
async def test_an_error_page_rolls_back_what_the_route_wrote(
    app: FastAPI, client: httpx.AsyncClient, state: AppState, status_code: int
) -> None:
    async def writes_then_answers(request: Request, session: SessionDep) -> HTMLResponse:
        session.add(Endpoint(name="written", kind="openai", base_url="http://127.0.0.1:9/v1", model="m"))
        await session.flush()
        return render(request, "pages/error.html", {"status_code": status_code, "detail": "x"}, status_code)

    app.router.add_api_route("/probe/unit-of-work", writes_then_answers, methods=["GET"])
    answer = await client.get("/probe/unit-of-work")
    assert answer.status_code == status_code
    async with state.sessions() as session:
        stored = (await session.scalars(select(Endpoint.name))).all()
    assert stored == (["written"] if status_code == 200 else [])


@pytest.fixture
async def catalog(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, Any]:
    endpoint = await create_endpoint(client, auth, name="keep-endpoint")
    variant = await create_variant(client, auth, endpoint["id"], name="keep-variant", strategy="few_shot")
    example_set = await client.post(
        "/api/v1/example-sets", json={"name": "keep-set", "examples": [{"input": "q", "output": "a"}]}, headers=auth
    )
    kb = await client.post("/api/v1/knowledge-bases", json={"name": "keep-kb"}, headers=auth)
    return {"endpoint": endpoint, "variant": variant, "set": example_set.json(), "kb": kb.json()}


async def test_every_form_family_that_fails_changes_nothing(
    client: httpx.AsyncClient, state: AppState, catalog: dict[str, Any]
) -> None:
    variant, endpoint, example_set = catalog["variant"], catalog["endpoint"], catalog["set"]
    failing_forms = [
        # The reported case: a new name and an endpoint that does not exist.
        (f"/variants/{variant['id']}", {"name": "Renamed", "endpoint_id": "424242", "system_prompt": "changed"}),
        (f"/endpoints/{endpoint['id']}", {"name": "Renamed", "kind": "openai", "base_url": "http://169.254.169.254/v1", "model": "m2", "timeout_s": "60"}),
        (f"/example-sets/{example_set['id']}", {"name": "Renamed", "description": "changed", "examples": "not json"}),
        ("/example-sets", {"name": "keep-set", "examples": '{"input": "q", "output": "a"}'}),
        ("/knowledge-bases", {"name": "keep-kb"}),
        ("/variants", {"name": "new", "strategy": "rag", "endpoint_id": str(endpoint["id"])}),
        ("/queues", {"name": "q", "comparison_ids": "424242", "raters_per_item": "2"}),
        ("/users", {"name": "x", "role": "king"}),
        ("/comparisons", {"query": "hello"}),  # no variant ticked
        ("/account/tokens", {"name": "x" * 500}),
        (f"/variants/{variant['id']}/archive", {"csrf_token": "forged"}),
    ]
    before = await snapshot(state)
    for path, form in failing_forms:
        for htmx in (False, True):
            headers = {"HX-Request": "true"} if htmx else {}
            answer = await client.post(path, data={"csrf_token": await csrf_of(client)} | form, headers=headers)
            assert 400 <= answer.status_code < 500, (path, htmx, answer.status_code)
            assert await snapshot(state) == before, (path, htmx)


async def test_a_failing_rating_form_changes_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake_llm: FakeOpenAIServer
) -> None:
    await answering_variants(client, auth, fake_llm.base_url, {"one": "alpha", "two": "beta"})
    comparison = (await client.post("/api/v1/comparisons", json={"query": "q"}, headers=auth)).json()
    before = await snapshot(state)
    # Scores for A only, a comment, a ranking: refused as a whole (B is unscored).
    form = {"csrf_token": await csrf_of(client), "A-correctness": "5", "comment": "partial", "rank-A": "1"}
    answer = await client.post(f"/comparisons/{comparison['id']}/rate", data=form)
    assert answer.status_code == 422
    assert await snapshot(state) == before
