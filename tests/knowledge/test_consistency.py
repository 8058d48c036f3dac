"""A crash mid-ingestion leaves SQL and Chroma consistent after a restart; kb check repairs drift."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from app.core.settings import Settings
from app.knowledge.kb_check import check_knowledge_bases
from app.main import create_app
from app.models import KnowledgeBase
from app.state import AppState
from tests.conftest import wipe
from tests.factories import create_endpoint


class Crash(BaseException):  # not an Exception: like a kill, nothing handles it
    pass


LONG = "\n\n".join(
    f"## Section {i}\n\n" + " ".join(f"Rule {i}.{j} says the limit is {i * j} units." for j in range(12))
    for i in range(12)
)


async def test_crash_mid_ingest_is_resumed_on_restart(settings: Settings) -> None:
    first = create_app(settings)
    async with first.router.lifespan_context(first):
        state: AppState = first.state.triptych
        kb = await state.knowledge.create("policies")
        result = await state.knowledge.add_documents(
            kb.id, [("rules.md", LONG.encode())], chunk_size=200, start=False
        )
        assert result.job is not None
        batches = 0

        def crash_after_second_batch(_document_id: int) -> None:
            nonlocal batches
            batches += 1
            if batches == 2:
                raise Crash

        state.ingest.batch_size = 8
        state.ingest.after_batch = crash_after_second_batch
        with pytest.raises(Crash):
            await state.ingest.run(result.job.id)
        # The "kill": vectors of the half-done document are in Chroma, the document is not ready.
        docs = await state.knowledge.documents(kb.id)
        assert [d.status for d in docs] == ["pending"]
        assert len(await asyncio.to_thread(state.store.all_ids, kb.collection_name)) == 16
    second: FastAPI = create_app(settings)
    async with second.router.lifespan_context(second):
        state = second.state.triptych
        try:
            await _assert_resumed(state, kb.id, kb.collection_name)
        finally:
            await wipe(state)


async def _assert_resumed(state: AppState, kb_id: int, collection: str) -> None:
    for _ in range(200):
        docs = await state.knowledge.documents(kb_id)
        if docs[0].status == "ready":
            break
        await asyncio.sleep(0.05)
    assert docs[0].status == "ready"
    ids = await asyncio.to_thread(state.store.all_ids, collection)
    assert len(ids) == docs[0].chunk_count > 16
    [report] = await check_knowledge_bases(state.sessions, state.store, state.ingest, repair=False)
    assert report.consistent


async def test_kb_check_repairs_missing_and_orphaned_vectors(state: AppState) -> None:
    kb = await state.knowledge.create("drift")
    await state.knowledge.ingest_text(kb.id, title="A", source="a.md", text="# A\n\n" + LONG)
    ids = sorted(await asyncio.to_thread(state.store.all_ids, kb.collection_name))
    await asyncio.to_thread(state.store.delete_chunks, kb.collection_name, ids[:3])
    await asyncio.to_thread(
        state.store.add_chunks,
        kb.collection_name,
        ["stray-1"],
        ["an orphan"],
        [{"document_id": 999, "source": "x"}],
    )
    [report] = await check_knowledge_bases(state.sessions, state.store, state.ingest, repair=False)
    assert report.missing_in_chroma == ids[:3] and report.orphans_in_chroma == ["stray-1"]
    [repaired] = await check_knowledge_bases(state.sessions, state.store, state.ingest, repair=True)
    assert repaired.repaired
    [clean] = await check_knowledge_bases(state.sessions, state.store, state.ingest, repair=False)
    assert clean.consistent and clean.chroma_vectors == clean.sql_chunks == len(ids)


async def test_interrupted_delete_is_finished_on_start(settings: Settings) -> None:
    first = create_app(settings)
    async with first.router.lifespan_context(first):
        state: AppState = first.state.triptych
        kb = await state.knowledge.create("deleting")
        doc = await state.knowledge.ingest_text(kb.id, title="A", source="a.md", text="# A\n\nAlpha fact.")
        assert doc is not None
        async with state.sessions.begin() as session:
            from app.models import Document

            (await session.get_one(Document, doc.id)).status = "deleting"  # crashed right after marking
    second = create_app(settings)
    async with second.router.lifespan_context(second):
        state = second.state.triptych
        try:
            assert list(await state.knowledge.documents(kb.id)) == []
            assert await asyncio.to_thread(state.store.all_ids, kb.collection_name) == set()
        finally:
            await wipe(state)


async def test_deleting_a_knowledge_base_while_a_variant_is_created_stays_consistent(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    """Delete and create race, a few times over: whichever wins, SQL and Chroma agree, and nobody gets a 5xx."""
    endpoint = await create_endpoint(client, auth)
    outcomes = set()
    for attempt in range(6):
        kb = (await client.post("/api/v1/knowledge-bases", json={"name": f"race-{attempt}"}, headers=auth)).json()
        async with state.sessions() as session:
            collection = (await session.get_one(KnowledgeBase, kb["id"])).collection_name
        await asyncio.to_thread(state.store.add_chunks, collection, ["c1"], ["a chunk"], [{"document_id": 0}])
        body = {"name": f"uses-{attempt}", "strategy": "rag", "endpoint_id": endpoint["id"], "knowledge_base_id": kb["id"], "top_k": 2}
        deleted, created = await asyncio.gather(
            client.delete(f"/api/v1/knowledge-bases/{kb['id']}", headers=auth),
            client.post("/api/v1/variants", json=body, headers=auth),
        )
        assert deleted.status_code in (204, 409) and created.status_code in (201, 422), (deleted.text, created.text)
        assert (deleted.status_code == 204) != (created.status_code == 201), (deleted.text, created.text)
        kb_row = await client.get(f"/api/v1/knowledge-bases/{kb['id']}", headers=auth)
        has_vectors = await asyncio.to_thread(state.store.has_collection, collection)
        if created.status_code == 201:
            outcomes.add("variant first")
            assert kb_row.status_code == 200 and has_vectors
            await client.delete(f"/api/v1/variants/{created.json()['id']}", headers=auth)
        else:
            outcomes.add("delete first")
            assert kb_row.status_code == 404 and not has_vectors
    assert outcomes  # which order won is up to the scheduler; either must be consistent
