"""REST: knowledge bases, their documents and ingest jobs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile, status

from app.accounts.auth import ApiAdmin, ApiUser
from app.core.api_errors import API_ERRORS, errors
from app.core.types import Id
from app.knowledge.deps import KnowledgeDep
from app.knowledge.presenters import job_out, knowledge_base_out
from app.knowledge.schemas import (
    DocumentOut,
    IngestJobOut,
    KnowledgeBaseIn,
    KnowledgeBaseOut,
    ReingestIn,
    UploadOut,
)
from app.knowledge.uploads import read_uploads

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


@router.get("/knowledge-bases", response_model=list[KnowledgeBaseOut])
async def list_knowledge_bases(_user: ApiUser, knowledge: KnowledgeDep) -> list[KnowledgeBaseOut]:
    return [knowledge_base_out(s) for s in await knowledge.summaries()]


@router.post("/knowledge-bases", response_model=KnowledgeBaseOut, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_knowledge_base(
    body: KnowledgeBaseIn, _user: ApiAdmin, knowledge: KnowledgeDep
) -> KnowledgeBaseOut:
    kb = await knowledge.create(body.name, body.description)
    return next(knowledge_base_out(s) for s in await knowledge.summaries() if s.kb.id == kb.id)


@router.get("/knowledge-bases/{kb_id}", response_model=KnowledgeBaseOut)
async def get_knowledge_base(kb_id: Id, _user: ApiUser, knowledge: KnowledgeDep) -> KnowledgeBaseOut:
    await knowledge.get(kb_id)
    return next(knowledge_base_out(s) for s in await knowledge.summaries() if s.kb.id == kb_id)


@router.delete("/knowledge-bases/{kb_id}", status_code=status.HTTP_204_NO_CONTENT, responses=errors(409))
async def delete_knowledge_base(kb_id: Id, _user: ApiAdmin, knowledge: KnowledgeDep) -> None:
    await knowledge.delete(kb_id)


@router.get("/knowledge-bases/{kb_id}/documents", response_model=list[DocumentOut])
async def list_documents(kb_id: Id, _user: ApiUser, knowledge: KnowledgeDep) -> list[DocumentOut]:
    return [DocumentOut.model_validate(d) for d in await knowledge.documents(kb_id)]


@router.post(
    "/knowledge-bases/{kb_id}/documents",
    response_model=UploadOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(409, 413, 415),
)
async def upload_documents(
    kb_id: Id,
    request: Request,
    _user: ApiAdmin,
    knowledge: KnowledgeDep,
    files: Annotated[list[UploadFile], File(description="txt, md, html, pdf, or a zip of them")],
    chunk_size: Annotated[int | None, Form(ge=50, le=20_000)] = None,
    chunk_overlap: Annotated[int | None, Form(ge=0, le=10_000)] = None,
) -> UploadOut:
    """Accept files; ingestion runs in the background (poll GET /ingest-jobs/{id}). All or nothing."""
    uploads = await read_uploads(files, knowledge.limits.max_file_bytes)
    result = await knowledge.add_documents(kb_id, uploads, chunk_size=chunk_size, chunk_overlap=chunk_overlap)
    return UploadOut(
        job=job_out(result.job) if result.job else None,
        documents=[DocumentOut.model_validate(d) for d in result.documents],
        duplicates=result.duplicates,
    )


@router.delete("/knowledge-bases/{kb_id}/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_document(kb_id: Id, document_id: Id, _user: ApiAdmin, knowledge: KnowledgeDep) -> None:
    await knowledge.delete_document(kb_id, document_id)


@router.post(
    "/knowledge-bases/{kb_id}/reingest",
    response_model=IngestJobOut,
    status_code=status.HTTP_202_ACCEPTED,
    responses=errors(409),
)
async def reingest(kb_id: Id, body: ReingestIn, _user: ApiAdmin, knowledge: KnowledgeDep) -> IngestJobOut:
    return job_out(
        await knowledge.reingest(kb_id, chunk_size=body.chunk_size, chunk_overlap=body.chunk_overlap)
    )


@router.get("/ingest-jobs/{job_id}", response_model=IngestJobOut)
async def get_ingest_job(job_id: Id, _user: ApiUser, knowledge: KnowledgeDep) -> IngestJobOut:
    return job_out(await knowledge.job(job_id))
