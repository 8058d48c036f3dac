"""Request and response bodies for knowledge bases, documents and ingest jobs."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from app.core.types import Name, Strict, UtcDateTime


class KnowledgeBaseIn(Strict):
    name: Name
    description: Annotated[str, Field(max_length=2000)] = ""


class KnowledgeBaseOut(BaseModel):
    id: int
    name: str
    description: str
    embedding_model: str
    documents: int
    chunks: int
    created_at: UtcDateTime


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str
    source: str
    media_type: str
    size_bytes: int
    status: str
    chunk_count: int
    error: str | None
    created_at: UtcDateTime


class IngestJobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    knowledge_base_id: int
    status: str
    documents_total: int
    documents_done: int
    chunks_done: int
    chunk_size: int
    chunk_overlap: int
    chunks_per_s: float | None = None
    error: str | None
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None


class UploadOut(BaseModel):
    job: IngestJobOut | None
    documents: list[DocumentOut]
    duplicates: list[str]


class ReingestIn(Strict):
    chunk_size: Annotated[int | None, Field(ge=50, le=20_000)] = None
    chunk_overlap: Annotated[int | None, Field(ge=0, le=10_000)] = None
