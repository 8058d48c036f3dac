"""HTML pages for knowledge bases: upload with live progress, documents, re-ingest, delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.accounts.auth import UiAdmin, UiUser
from app.core.errors import DomainError
from app.core.types import Id
from app.core.web import error_status, form_error_page, form_errors, render
from app.knowledge.deps import KnowledgeDep
from app.knowledge.presenters import job_out, knowledge_base_out
from app.knowledge.schemas import DocumentOut
from app.knowledge.uploads import read_uploads

router = APIRouter()


async def _detail_context(knowledge: KnowledgeDep, kb_id: Id) -> dict[str, object]:
    await knowledge.get(kb_id)
    summary = next(s for s in await knowledge.summaries() if s.kb.id == kb_id)
    jobs = [job_out(j) for j in await knowledge.jobs(kb_id)]
    return {
        "kb": knowledge_base_out(summary),
        "documents": [DocumentOut.model_validate(d) for d in await knowledge.documents(kb_id)],
        "jobs": jobs,
        "active_job": next((j for j in jobs if j.status in ("queued", "running")), None),
        "limits": knowledge.limits,
        "chunk_size": knowledge.chunk_size,
        "chunk_overlap": knowledge.chunk_overlap,
    }


@router.get("/knowledge-bases", name="knowledge_bases_page", response_class=HTMLResponse)
async def knowledge_bases_page(request: Request, _user: UiUser, knowledge: KnowledgeDep) -> HTMLResponse:
    bases = [knowledge_base_out(s) for s in await knowledge.summaries()]
    return render(request, "pages/knowledge_bases.html", {"bases": bases})


@router.post("/knowledge-bases", name="create_knowledge_base_ui", response_model=None)
async def create_knowledge_base(
    request: Request,
    _user: UiAdmin,
    knowledge: KnowledgeDep,
    name: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    try:
        kb = await knowledge.create(name, description)
    except DomainError as exc:
        bases = [knowledge_base_out(s) for s in await knowledge.summaries()]
        context = {"bases": bases, "values": {"name": name, "description": description}}
        return form_error_page(request, "pages/knowledge_bases.html", exc, context)
    return RedirectResponse(
        request.url_for("knowledge_base_page", kb_id=kb.id), status_code=status.HTTP_303_SEE_OTHER
    )


@router.get("/knowledge-bases/{kb_id}", name="knowledge_base_page", response_class=HTMLResponse)
async def knowledge_base_page(
    request: Request, kb_id: Id, _user: UiUser, knowledge: KnowledgeDep
) -> HTMLResponse:
    return render(request, "pages/knowledge_base.html", await _detail_context(knowledge, kb_id))


@router.get("/knowledge-bases/{kb_id}/progress", name="knowledge_base_progress", response_class=HTMLResponse)
async def knowledge_base_progress(
    request: Request, kb_id: Id, _user: UiUser, knowledge: KnowledgeDep
) -> HTMLResponse:
    """The documents-and-progress fragment, polled while a job runs."""
    return render(request, "partials/_kb_documents.html", await _detail_context(knowledge, kb_id))


@router.post("/knowledge-bases/{kb_id}/documents", name="upload_documents_ui", response_model=None)
async def upload_documents(
    request: Request,
    kb_id: Id,
    _user: UiAdmin,
    knowledge: KnowledgeDep,
    files: Annotated[list[UploadFile], File()],
) -> Response:
    context: dict[str, object] = {}
    try:
        result = await knowledge.add_documents(
            kb_id, await read_uploads(files, knowledge.limits.max_file_bytes)
        )
        context["duplicates"] = result.duplicates
        code = status.HTTP_200_OK
    except DomainError as exc:
        context["errors"] = form_errors(exc)
        code = error_status(exc)
    context |= await _detail_context(knowledge, kb_id)
    return render(request, "partials/_kb_documents.html", context, status_code=code)


@router.post(
    "/knowledge-bases/{kb_id}/documents/{document_id}/delete", name="delete_document_ui", response_model=None
)
async def delete_document(
    request: Request,
    kb_id: Id,
    document_id: Id,
    _user: UiAdmin,
    knowledge: KnowledgeDep,
) -> Response:
    await knowledge.delete_document(kb_id, document_id)
    return render(request, "partials/_kb_documents.html", await _detail_context(knowledge, kb_id))


@router.post("/knowledge-bases/{kb_id}/reingest", name="reingest_ui", response_model=None)
async def reingest(
    request: Request,
    kb_id: Id,
    _user: UiAdmin,
    knowledge: KnowledgeDep,
    chunk_size: Annotated[str, Form()] = "",
    chunk_overlap: Annotated[str, Form()] = "",
) -> Response:
    context: dict[str, object] = {}
    code = status.HTTP_200_OK
    try:
        await knowledge.reingest(
            kb_id,
            chunk_size=int(chunk_size) if chunk_size.strip() else None,
            chunk_overlap=int(chunk_overlap) if chunk_overlap.strip() else None,
        )
    except DomainError as exc:
        context["errors"], code = form_errors(exc), error_status(exc)
    except ValueError:
        context["errors"], code = ["chunk size and overlap must be whole numbers"], 422
    context |= await _detail_context(knowledge, kb_id)
    return render(request, "partials/_kb_documents.html", context, status_code=code)


@router.post("/knowledge-bases/{kb_id}/delete", name="delete_knowledge_base_ui", response_model=None)
async def delete_knowledge_base(
    request: Request, kb_id: Id, _user: UiAdmin, knowledge: KnowledgeDep
) -> Response:
    try:
        await knowledge.delete(kb_id)
    except DomainError as exc:
        return form_error_page(
            request, "pages/knowledge_base.html", exc, await _detail_context(knowledge, kb_id)
        )
    return RedirectResponse(request.url_for("knowledge_bases_page"), status_code=status.HTTP_303_SEE_OTHER)
