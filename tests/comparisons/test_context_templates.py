"""A variant's context template through the app: refused at save when it cannot render, and at run time it
neither touches the stored evidence nor holds up the server."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.settings import Settings
from app.state import AppState
from tests.conftest import make_settings
from tests.factories import create_endpoint
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer

BUDGET_S = 0.5
ONLY_OFF_SAMPLE = '{% if query != "How many days?" %}'
SLOW = (
    ONLY_OFF_SAMPLE
    + "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}"
)
RECURSIVE = "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}"
QUERY = "How many vacation days do new employees get?"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data", template_budget_s=BUDGET_S)


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer({"ok": FakeModel(reply="Answer: 22 days [1]")}) as server:
        yield server


@pytest.fixture
async def templates_closed(state: AppState) -> AsyncIterator[None]:
    yield
    await state.templates.aclose()


async def _rag_variant(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, base_url: str
) -> dict[str, Any]:
    """A RAG variant's body on a two-document knowledge base (its name and template still to add)."""
    kb = await state.knowledge.create("policies")
    for title, source, text in (
        (
            "Vacation",
            "vacation.md",
            "# Vacation\n\nNew employees receive 22 vacation days in their first year.",
        ),
        ("Expenses", "expenses.md", "# Expenses\n\nMeals are capped at EUR 45 per day."),
    ):
        await state.knowledge.ingest_text(kb.id, title=title, source=source, text=text)
    endpoint = await create_endpoint(client, auth, base_url=base_url, model="ok")
    return {"strategy": "rag", "endpoint_id": endpoint["id"], "knowledge_base_id": kb.id, "top_k": 2}


async def _variant(client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, Any]) -> int:
    response = await client.post("/api/v1/variants", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _compare(client: httpx.AsyncClient, auth: dict[str, str], variant_ids: list[int]) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/comparisons", json={"query": QUERY, "variant_ids": variant_ids}, headers=auth
    )
    assert response.status_code == 201, response.text
    return {o["variant"]["name"]: o for o in response.json()["outputs"]}


@pytest.mark.usefixtures("templates_closed")
async def test_a_template_that_empties_its_sources_leaves_the_stored_evidence_whole(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake_server: FakeOpenAIServer
) -> None:
    body = await _rag_variant(client, auth, state, fake_server.base_url)
    plain = await _variant(client, auth, body | {"name": "plain"})
    clearing = await _variant(
        client, auth, body | {"name": "clearing", "context_template": "{{ contexts.clear() }}Q: {{ query }}"}
    )
    outputs = await _compare(client, auth, [plain, clearing])
    assert outputs["clearing"]["status"] == "done"
    assert [c["source"] for c in outputs["clearing"]["contexts"]] == ["vacation.md", "expenses.md"]
    assert outputs["clearing"]["contexts"] == outputs["plain"]["contexts"]
    sent = [r["messages"][-1]["content"] for r in fake_server.requests[-2:]]
    assert f"NoneQ: {QUERY}" in sent


@pytest.mark.usefixtures("templates_closed")
async def test_a_slow_template_fails_its_variant_in_the_budget_while_the_server_answers(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake_server: FakeOpenAIServer
) -> None:
    body = await _rag_variant(client, auth, state, fake_server.base_url)
    plain = await _variant(client, auth, body | {"name": "plain"})
    # The sample question renders at once, so it saves.
    slow = await _variant(client, auth, body | {"name": "slow", "context_template": SLOW})
    await _compare(client, auth, [plain])  # the embedder warm, so only the template is timed below
    comparison = asyncio.create_task(_compare(client, auth, [plain, slow]))
    health: list[float] = []
    while not comparison.done():
        started = time.perf_counter()
        assert (await client.get("/healthz")).status_code == 200
        health.append(time.perf_counter() - started)
        await asyncio.sleep(0.02)
    outputs = await comparison
    assert outputs["plain"]["status"] == "done"
    assert outputs["slow"]["status"] == "error"
    assert outputs["slow"]["error"] == (
        "the variant's context template failed: the template took longer than 0.5 s to render"
    )
    assert outputs["slow"]["latency_ms"] < (BUDGET_S + 1.0) * 1000
    assert len(health) >= 5 and max(health) < 0.1


@pytest.mark.usefixtures("templates_closed")
async def test_a_recursive_macro_is_refused_at_save_and_fails_only_its_variant_at_run_time(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake_server: FakeOpenAIServer
) -> None:
    body = await _rag_variant(client, auth, state, fake_server.base_url)
    refused = await client.post(
        "/api/v1/variants", json=body | {"name": "recursive", "context_template": RECURSIVE}, headers=auth
    )
    assert refused.status_code == 422
    assert refused.json()["detail"] == (
        "context_template: the template nests too deeply (e.g. a macro that calls itself without end)"
    )
    # Recursing only off the sample question, it saves; a comparison then fails that variant alone.
    sneaky_template = "{% macro f() %}{{ f() }}{% endmacro %}" + ONLY_OFF_SAMPLE + "{{ f() }}{% endif %}"
    sneaky = await _variant(client, auth, body | {"name": "sneaky", "context_template": sneaky_template})
    plain = await _variant(client, auth, body | {"name": "plain"})
    outputs = await _compare(client, auth, [plain, sneaky])
    assert outputs["plain"]["status"] == "done"
    assert outputs["sneaky"]["status"] == "error"
    assert "nests too deeply" in outputs["sneaky"]["error"]
