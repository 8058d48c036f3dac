"""Knowledge bases over REST: upload, dedupe, delete, re-ingest, bad input; both Chroma modes."""

from __future__ import annotations

import asyncio
import io
import zipfile

import httpx
import pytest

from app.state import AppState
from tests.ingest.test_extract import make_pdf, make_zip


async def create_kb(client: httpx.AsyncClient, auth: dict[str, str], name: str = "handbook") -> int:
    response = await client.post("/api/v1/knowledge-bases", json={"name": name}, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def wait_for_job(client: httpx.AsyncClient, auth: dict[str, str], job_id: int) -> dict[str, object]:
    for _ in range(300):
        job = (await client.get(f"/api/v1/ingest-jobs/{job_id}", headers=auth)).json()
        if job["status"] in ("succeeded", "failed"):
            return dict(job)
        await asyncio.sleep(0.05)
    raise AssertionError("ingestion did not finish")


async def vectors(state: AppState, kb_id: int) -> set[str]:
    kb = await state.knowledge.get(kb_id)
    return await asyncio.to_thread(state.store.all_ids, kb.collection_name)


HTML = b"<html><head><title>Travel</title></head><body><p>Trains for trips under 600 km.</p></body></html>"


async def test_upload_each_type_and_ingest(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    kb_id = await create_kb(client, auth)
    files = [
        ("files", ("notes.txt", b"Meals are capped at EUR 45 per day.", "text/plain")),
        ("files", ("vacation.md", b"# Vacation\n\nNew employees receive 22 vacation days.", "text/markdown")),
        ("files", ("travel.html", HTML, "text/html")),
        ("files", ("leave.pdf", make_pdf("Parental leave is 18 weeks on full pay."), "application/pdf")),
        (
            "files",
            (
                "more.zip",
                make_zip({"a.md": b"# A\n\nAlpha fact.", "b.txt": b"Beta fact."}),
                "application/zip",
            ),
        ),
    ]
    response = await client.post(f"/api/v1/knowledge-bases/{kb_id}/documents", files=files, headers=auth)
    assert response.status_code == 202, response.text
    body = response.json()
    assert len(body["documents"]) == 6 and body["duplicates"] == []
    job = await wait_for_job(client, auth, body["job"]["id"])
    assert job["status"] == "succeeded" and job["documents_done"] == 6 and job["chunks_done"] >= 6
    documents = (await client.get(f"/api/v1/knowledge-bases/{kb_id}/documents", headers=auth)).json()
    assert {d["media_type"] for d in documents} == {"text", "markdown", "html", "pdf"}
    assert all(d["status"] == "ready" and d["chunk_count"] >= 1 for d in documents)
    assert len(await vectors(state, kb_id)) == sum(d["chunk_count"] for d in documents)
    summary = (await client.get(f"/api/v1/knowledge-bases/{kb_id}", headers=auth)).json()
    assert summary["documents"] == 6 and summary["embedding_model"] == "all-MiniLM-L6-v2"


async def test_same_file_twice_is_stored_once(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    kb_id = await create_kb(client, auth)
    file = [("files", ("a.md", b"# A\n\nThe warehouse opens at 06:00.", "text/markdown"))]
    first = (await client.post(f"/api/v1/knowledge-bases/{kb_id}/documents", files=file, headers=auth)).json()
    await wait_for_job(client, auth, first["job"]["id"])
    count = len(await vectors(state, kb_id))
    again = await client.post(f"/api/v1/knowledge-bases/{kb_id}/documents", files=file, headers=auth)
    assert again.status_code == 202
    assert again.json()["job"] is None and again.json()["duplicates"] == ["a.md"]
    assert len(await vectors(state, kb_id)) == count
    assert len((await client.get(f"/api/v1/knowledge-bases/{kb_id}/documents", headers=auth)).json()) == 1


async def test_delete_document_removes_its_vectors(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    kb_id = await create_kb(client, auth)
    files = [
        ("files", ("a.md", b"# A\n\nAlpha.", "text/markdown")),
        ("files", ("b.md", b"# B\n\nBeta.", "text/markdown")),
    ]
    upload = (
        await client.post(f"/api/v1/knowledge-bases/{kb_id}/documents", files=files, headers=auth)
    ).json()
    await wait_for_job(client, auth, upload["job"]["id"])
    doc_a, doc_b = upload["documents"]
    before = await vectors(state, kb_id)
    assert any(v.startswith(f"d{doc_a['id']}-") for v in before)
    response = await client.delete(f"/api/v1/knowledge-bases/{kb_id}/documents/{doc_a['id']}", headers=auth)
    assert response.status_code == 204
    after = await vectors(state, kb_id)
    assert not any(v.startswith(f"d{doc_a['id']}-") for v in after)
    assert any(v.startswith(f"d{doc_b['id']}-") for v in after)
    missing = await client.delete(f"/api/v1/knowledge-bases/{kb_id}/documents/{doc_a['id']}", headers=auth)
    assert missing.status_code == 404


async def test_reingest_with_new_chunk_size(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    kb_id = await create_kb(client, auth)
    text = " ".join(f"Fact {i} is that item {i} weighs {i * 3} kilograms." for i in range(60))
    upload = (
        await client.post(
            f"/api/v1/knowledge-bases/{kb_id}/documents",
            files=[("files", ("facts.txt", text.encode(), "text/plain"))],
            headers=auth,
        )
    ).json()
    await wait_for_job(client, auth, upload["job"]["id"])
    coarse = len(await vectors(state, kb_id))
    job = (
        await client.post(
            f"/api/v1/knowledge-bases/{kb_id}/reingest",
            json={"chunk_size": 200, "chunk_overlap": 0},
            headers=auth,
        )
    ).json()
    await wait_for_job(client, auth, job["id"])
    fine = await vectors(state, kb_id)
    documents = (await client.get(f"/api/v1/knowledge-bases/{kb_id}/documents", headers=auth)).json()
    assert len(fine) > coarse and len(fine) == documents[0]["chunk_count"]


def zip_bomb() -> bytes:
    return make_zip({"zeros.txt": b"0" * 3_000_000})


def deep_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("inner.zip", make_zip({"a.txt": b"a"}))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("filename", "data", "status"),
    [
        ("empty.txt", b"", 422),
        ("program.exe", b"MZ\x90\x00binary", 415),
        ("fake.pdf", b"not really a pdf", 415),
        ("bomb.zip", zip_bomb(), 413),
        ("nested.zip", deep_zip(), 422),
        ("huge.txt", b"x" * (26 * 1024 * 1024), 413),
    ],
)
async def test_bad_uploads_are_rejected_and_nothing_is_stored(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, filename: str, data: bytes, status: int
) -> None:
    kb_id = await create_kb(client, auth)
    files = [
        ("files", ("fine.md", b"# Fine\n\nA good file.", "text/markdown")),
        ("files", (filename, data, "application/octet-stream")),
    ]
    response = await client.post(f"/api/v1/knowledge-bases/{kb_id}/documents", files=files, headers=auth)
    assert response.status_code == status, response.text
    assert filename in response.json()["detail"]
    assert (await client.get(f"/api/v1/knowledge-bases/{kb_id}/documents", headers=auth)).json() == []
    assert await vectors(state, kb_id) == set()


async def test_request_body_cap(client: httpx.AsyncClient, auth: dict[str, str], app) -> None:  # type: ignore[no-untyped-def]
    kb_id = await create_kb(client, auth)
    limit = app.state.settings.ingest_max_request_mb * 1024 * 1024
    response = await client.post(
        f"/api/v1/knowledge-bases/{kb_id}/documents",
        content=b"x" * 16,
        headers=auth | {"content-type": "multipart/form-data; boundary=x", "content-length": str(limit + 1)},
    )
    assert response.status_code == 413


async def test_knowledge_base_in_use_cannot_be_deleted(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    kb_id = await create_kb(client, auth)
    endpoint = (
        await client.post(
            "/api/v1/endpoints",
            json={"name": "e", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
            headers=auth,
        )
    ).json()
    await client.post(
        "/api/v1/variants",
        json={
            "name": "r",
            "strategy": "rag",
            "endpoint_id": endpoint["id"],
            "knowledge_base_id": kb_id,
            "top_k": 2,
        },
        headers=auth,
    )
    assert (await client.delete(f"/api/v1/knowledge-bases/{kb_id}", headers=auth)).status_code == 409
    unused = await create_kb(client, auth, "scratch")
    assert (await client.delete(f"/api/v1/knowledge-bases/{unused}", headers=auth)).status_code == 204
    assert (await client.get(f"/api/v1/knowledge-bases/{unused}", headers=auth)).status_code == 404
