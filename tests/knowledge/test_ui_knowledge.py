"""Knowledge-base pages: full and fragment, upload through the form with progress, chunk marks."""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from app.state import AppState
from tests.comparisons.test_ui import csrf


@pytest.fixture
async def kb_id(state: AppState) -> int:
    kb = await state.knowledge.create("Handbook")
    await state.knowledge.ingest_text(
        kb.id, title="Vacation", source="vacation.md", text="# Vacation\n\n22 days."
    )
    return kb.id


async def test_pages_full_and_fragment(client: httpx.AsyncClient, kb_id: int) -> None:
    for path in ("/knowledge-bases", f"/knowledge-bases/{kb_id}", f"/knowledge-bases/{kb_id}/progress"):
        full = await client.get(path)
        fragment = await client.get(path, headers={"HX-Request": "true"})
        assert full.status_code == 200 and fragment.status_code == 200, path
        assert "<html" not in fragment.text
    page = await client.get(f"/knowledge-bases/{kb_id}")
    assert "<html" in page.text and "vacation.md" in page.text and "ready" in page.text


async def test_upload_form_ingests_and_polls_until_done(
    client: httpx.AsyncClient, kb_id: int, state: AppState
) -> None:
    headers = await csrf(client) | {"HX-Request": "true"}
    response = await client.post(
        f"/knowledge-bases/{kb_id}/documents",
        files=[("files", ("travel.md", b"# Travel\n\nTrains under 600 km.", "text/markdown"))],
        headers=headers,
    )
    assert response.status_code == 200
    assert "travel.md" in response.text
    for _ in range(100):
        progress = await client.get(f"/knowledge-bases/{kb_id}/progress", headers={"HX-Request": "true"})
        if "every 1s" not in progress.text:
            break
        await asyncio.sleep(0.05)
    assert "every 1s" not in progress.text and "Last ingestion: succeeded" in progress.text


async def test_upload_form_rejects_bad_files_with_the_reason(client: httpx.AsyncClient, kb_id: int) -> None:
    headers = await csrf(client) | {"HX-Request": "true"}
    response = await client.post(
        f"/knowledge-bases/{kb_id}/documents",
        files=[("files", ("tool.exe", b"MZ\x90", "application/octet-stream"))],
        headers=headers,
    )
    assert response.status_code == 415
    assert "unsupported file type" in response.text


async def test_create_and_delete_from_the_ui(client: httpx.AsyncClient) -> None:
    token = (await csrf(client))["X-CSRF-Token"]
    created = await client.post("/knowledge-bases", data={"name": "Scratch", "csrf_token": token})
    assert created.status_code == 303
    kb_path = created.headers["location"]
    duplicate = await client.post("/knowledge-bases", data={"name": "Scratch", "csrf_token": token})
    assert duplicate.status_code == 409 and "already exists" in duplicate.text
    kb = int(re.search(r"/knowledge-bases/(\d+)", kb_path).group(1))  # type: ignore[union-attr]
    deleted = await client.post(f"/knowledge-bases/{kb}/delete", data={"csrf_token": token})
    assert deleted.status_code == 303
    assert (await client.get(f"/knowledge-bases/{kb}")).status_code == 404


async def test_chunk_mark_buttons(
    client: httpx.AsyncClient, kb_id: int, state: AppState, auth: dict[str, str]
) -> None:
    from tests.rating.test_judgements_api import rag_output

    output_id = await rag_output(client, auth, state, contexts=2)
    headers = await csrf(client) | {"HX-Request": "true"}
    response = await client.post(
        f"/outputs/{output_id}/contexts/2/judgement", data={"relevant": "yes"}, headers=headers
    )
    assert response.status_code == 200 and 'aria-pressed="true"' in response.text
    no_csrf = await client.post(f"/outputs/{output_id}/contexts/1/judgement", data={"relevant": "yes"})
    assert no_csrf.status_code == 403
    [metrics] = (await client.get("/api/v1/retrieval-metrics", headers=auth)).json()
    assert metrics["mrr"] == 0.5


async def test_citations_link_to_chunks_and_marks_show_on_reload(
    client: httpx.AsyncClient, kb_id: int, state: AppState, auth: dict[str, str]
) -> None:
    from sqlalchemy import update

    from app.models import Output
    from tests.rating.test_judgements_api import rag_output

    output_id = await rag_output(client, auth, state, contexts=2)
    async with state.sessions.begin() as session:
        await session.execute(
            update(Output)
            .where(Output.id == output_id)
            .values(text="22 days [1], see also [2] and [7] <b>x</b>")
        )
    headers = await csrf(client) | {"HX-Request": "true"}
    await client.post(f"/outputs/{output_id}/contexts/1/judgement", data={"relevant": "no"}, headers=headers)
    comparison_id = (await client.get("/api/v1/comparisons", headers=auth)).json()[0]["id"]
    page = await client.get(f"/comparisons/{comparison_id}")
    assert f'<a class="cite" href="#output-{output_id}-ctx-1" rel="noopener noreferrer nofollow">[1]</a>' in page.text
    assert f'href="#output-{output_id}-ctx-2"' in page.text
    assert "[7]" in page.text and "ctx-7" not in page.text  # no chunk 7: left as text
    assert "&lt;b&gt;x&lt;/b&gt;" in page.text  # still escaped
    assert f'id="output-{output_id}-ctx-1"' in page.text
    marks = page.text.split(f'id="judge-{output_id}-1"')[1].split("</span>")[0]
    assert marks.count('aria-pressed="true"') == 1 and "Not relevant" in marks.split('aria-pressed="true"')[1]
