"""Knowledge bases, documents, chunks and ingest jobs: all the knowledge SQL."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, exists, func, select, update

from app.core.database import hold_row
from app.core.repository import SoftDeletionMixin
from app.models import Chunk, Document, IngestJob, KnowledgeBase, VariantVersion


class KnowledgeRepository(SoftDeletionMixin[KnowledgeBase]):
    """Knowledge bases (soft-deleted), and their documents, chunks and ingest jobs."""

    model = KnowledgeBase

    async def stats(self) -> dict[int, tuple[int, int]]:
        """Per knowledge base: (ready documents, chunks)."""
        stmt = (
            select(
                Document.knowledge_base_id,
                func.count(Document.id),
                func.coalesce(func.sum(Document.chunk_count), 0),
            )
            .where(Document.status == "ready")
            .group_by(Document.knowledge_base_id)
        )
        return {row[0]: (int(row[1]), int(row[2])) for row in (await self.session.execute(stmt)).all()}

    async def lock(self, kb_id: int) -> KnowledgeBase | None:
        """The knowledge base, held until the transaction ends (PostgreSQL: FOR UPDATE; SQLite: its database
        write lock, taken by a no-op write before anything is read)."""
        if not await hold_row(self.session, KnowledgeBase, kb_id, touch=KnowledgeBase.name):
            return None
        return await self.session.get(KnowledgeBase, kb_id)

    async def count_job_progress(self, job_id: int, *, chunks: int = 0, documents: int = 0) -> None:
        """Add to a job's counters in the database itself (workers finish documents concurrently)."""
        await self.session.execute(
            update(IngestJob)
            .where(IngestJob.id == job_id)
            .values(
                chunks_done=IngestJob.chunks_done + chunks,
                documents_done=IngestJob.documents_done + documents,
            )
        )

    async def ready_chunks_with_sources(self, kb_id: int) -> Sequence[Any]:
        """(chunk, document source, document title) of every ready document's chunks."""
        stmt = (
            select(Chunk, Document.source, Document.title)
            .join(Document, Document.id == Chunk.document_id)
            .where(Document.knowledge_base_id == kb_id, Document.status == "ready")
        )
        return (await self.session.execute(stmt)).all()

    async def is_used_by_variants(self, kb_id: int) -> bool:
        return bool(
            await self.session.scalar(select(exists().where(VariantVersion.knowledge_base_id == kb_id)))
        )

    async def document(self, document_id: int) -> Document | None:
        return await self.session.get(Document, document_id)

    async def document_by_hash(self, kb_id: int, content_hash: str) -> Document | None:
        stmt = select(Document).where(
            Document.knowledge_base_id == kb_id, Document.content_hash == content_hash
        )
        return await self.session.scalar(stmt)

    async def documents(self, kb_id: int, *, status: str | None = None) -> Sequence[Document]:
        stmt = select(Document).where(Document.knowledge_base_id == kb_id).order_by(Document.id)
        if status is not None:
            stmt = stmt.where(Document.status == status)
        return (await self.session.scalars(stmt)).all()

    async def documents_with_status(self, status: str) -> Sequence[Document]:
        return (await self.session.scalars(select(Document).where(Document.status == status))).all()

    async def chunk_ids(self, document_id: int) -> Sequence[str]:
        return (await self.session.scalars(select(Chunk.id).where(Chunk.document_id == document_id))).all()

    async def ready_chunks(self, kb_id: int) -> Sequence[Chunk]:
        stmt = (
            select(Chunk)
            .join(Document, Document.id == Chunk.document_id)
            .where(Document.knowledge_base_id == kb_id, Document.status == "ready")
        )
        return (await self.session.scalars(stmt)).all()

    async def delete_chunks(self, document_id: int) -> None:
        await self.session.execute(delete(Chunk).where(Chunk.document_id == document_id))

    async def job(self, job_id: int) -> IngestJob | None:
        return await self.session.get(IngestJob, job_id)

    async def jobs(self, kb_id: int, limit: int = 10) -> Sequence[IngestJob]:
        stmt = (
            select(IngestJob)
            .where(IngestJob.knowledge_base_id == kb_id)
            .order_by(IngestJob.id.desc())
            .limit(limit)
        )
        return (await self.session.scalars(stmt)).all()

    async def unfinished_jobs(self) -> Sequence[IngestJob]:
        stmt = select(IngestJob).where(IngestJob.status.in_(("queued", "running"))).order_by(IngestJob.id)
        return (await self.session.scalars(stmt)).all()

    async def job_documents(self, job_id: int, *, status: str) -> Sequence[Document]:
        stmt = (
            select(Document)
            .where(Document.ingest_job_id == job_id, Document.status == status)
            .order_by(Document.id)
        )
        return (await self.session.scalars(stmt)).all()
