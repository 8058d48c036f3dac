"""Knowledge bases: create, upload (extract in a sandbox, then ingest in the background), delete, re-ingest."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.errors import Conflict, DomainError, Invalid, NotFound
from app.ingest.extract import ExtractedDocument
from app.ingest.limits import IngestLimits, RejectedFile
from app.ingest.sandbox import extract_safely
from app.knowledge.ingestion import IngestWorker, content_hash, finish_document_deletion
from app.knowledge.repository import KnowledgeRepository
from app.models import Document, IngestJob, KnowledgeBase
from app.retrieval.chunking import chunk_text
from app.retrieval.store import VectorStore


def collection_name_for(name: str) -> str:
    """A Chroma-safe, unique-enough collection name derived from the knowledge base name."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower()[:40] or "kb"
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"kb-{slug}-{digest}"


class UploadRejected(DomainError):
    """Some uploaded file was refused; nothing from the request was stored."""

    def __init__(self, rejections: list[RejectedFile]):
        super().__init__("; ".join(str(r) for r in rejections))
        # Too large wins over unsupported, which wins over merely invalid.
        self.status_code = max(r.status_code for r in rejections)
        self.rejections = rejections


@dataclass
class UploadResult:
    job: IngestJob | None
    documents: list[Document] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class KnowledgeBaseSummary:
    kb: KnowledgeBase
    documents: int
    chunks: int


class KnowledgeService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        store: VectorStore,
        worker: IngestWorker,
        enqueue: Callable[[int], Awaitable[None]],
        limits: IngestLimits | None = None,
        *,
        chunk_size: int = 800,
        chunk_overlap: int = 120,
    ):
        self.sessions = sessions
        self.store = store
        self.worker = worker
        # Queues an ingest job whose rows are committed (the job kernel's "ingest" kind).
        self.enqueue = enqueue
        self.limits = limits or IngestLimits()
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap

    async def active(self) -> Sequence[KnowledgeBase]:
        async with self.sessions() as session:
            return await KnowledgeRepository(session).list()

    async def summaries(self) -> list[KnowledgeBaseSummary]:
        async with self.sessions() as session:
            repo = KnowledgeRepository(session)
            stats = await repo.stats()
            return [KnowledgeBaseSummary(kb, *stats.get(kb.id, (0, 0))) for kb in await repo.list()]

    async def get(self, kb_id: int) -> KnowledgeBase:
        async with self.sessions() as session:
            kb = await KnowledgeRepository(session).get_active(kb_id)
        if kb is None:
            raise NotFound(f"knowledge base {kb_id} not found")
        return kb

    async def documents(self, kb_id: int) -> Sequence[Document]:
        await self.get(kb_id)
        async with self.sessions() as session:
            return await KnowledgeRepository(session).documents(kb_id)

    async def jobs(self, kb_id: int) -> Sequence[IngestJob]:
        async with self.sessions() as session:
            return await KnowledgeRepository(session).jobs(kb_id)

    async def job(self, job_id: int) -> IngestJob:
        async with self.sessions() as session:
            job = await KnowledgeRepository(session).job(job_id)
        if job is None:
            raise NotFound(f"ingest job {job_id} not found")
        return job

    async def create(self, name: str, description: str = "") -> KnowledgeBase:
        name = name.strip()
        if not name or len(name) > 120:
            raise Invalid("name must be 1-120 characters")
        async with self.sessions.begin() as session:
            repo = KnowledgeRepository(session)
            if await repo.by_name(name) is not None:
                raise Conflict(f"a knowledge base named {name!r} already exists")
            kb = KnowledgeBase(
                name=name,
                description=description,
                collection_name=collection_name_for(name),
                embedding_model=self.store.embedder.name,
            )
            repo.add(kb)
        return kb

    async def delete(self, kb_id: int) -> None:
        """Delete a knowledge base that no variant uses: its documents and jobs, then its vectors.

        The check and the delete are one transaction holding the row, so a variant created meanwhile either
        comes first (and the delete is refused) or finds the knowledge base gone (its validation waits on the
        same row). The vectors go after the commit: a crash in between leaves an unreferenced collection,
        never a knowledge base without its vectors."""
        async with self.sessions.begin() as session:
            repo = KnowledgeRepository(session)
            kb = await repo.lock(kb_id)
            if kb is None:
                raise NotFound(f"knowledge base {kb_id} not found")
            if await repo.is_used_by_variants(kb_id):
                raise Conflict(
                    "variants use this knowledge base: point them elsewhere (or archive them) first"
                )
            collection = kb.collection_name
            await session.delete(kb)
        await asyncio.to_thread(self.store.drop_collection, collection)

    def extract(self, files: list[tuple[str, bytes]]) -> list[ExtractedDocument]:
        """All documents from the uploads, or UploadRejected naming every refused file."""
        extracted, rejections = [], []
        for filename, data in files:
            try:
                extracted.extend(extract_safely(filename, data, self.limits))
            except RejectedFile as rejection:
                rejections.append(rejection)
        if rejections:
            raise UploadRejected(rejections)
        if not extracted:
            raise Invalid("no files were uploaded")
        return extracted

    def _chunk_settings(self, chunk_size: int | None, chunk_overlap: int | None) -> tuple[int, int]:
        """The request's chunk settings over the defaults, validated."""
        size = chunk_size or self.chunk_size
        overlap = self.chunk_overlap if chunk_overlap is None else chunk_overlap
        try:
            chunk_text("probe", size=size, overlap=overlap)
        except ValueError as exc:
            raise Invalid(str(exc)) from exc
        return size, overlap

    async def add_documents(
        self,
        kb_id: int,
        files: list[tuple[str, bytes]],
        *,
        chunk_size: int | None = None,
        chunk_overlap: int | None = None,
        start: bool = True,
    ) -> UploadResult:
        """Extract (in a sandbox), dedupe by content, store as pending and queue one ingest job."""
        size, overlap = self._chunk_settings(chunk_size, chunk_overlap)
        await self.get(kb_id)
        extracted = await asyncio.to_thread(self.extract, files)
        result = UploadResult(job=None)
        async with self.sessions.begin() as session:
            repo = KnowledgeRepository(session)
            seen: set[str] = set()
            job = IngestJob(knowledge_base_id=kb_id, chunk_size=size, chunk_overlap=overlap)
            for doc in extracted:
                digest = content_hash(doc.text)
                if digest in seen or await repo.document_by_hash(kb_id, digest) is not None:
                    result.duplicates.append(doc.filename)
                    continue
                seen.add(digest)
                result.documents.append(
                    Document(
                        knowledge_base_id=kb_id,
                        title=doc.title[:300],
                        source=doc.filename[:300],
                        content_hash=digest,
                        text=doc.text,
                        media_type=doc.kind,
                        size_bytes=len(doc.text.encode()),
                    )
                )
            if result.documents:
                job.documents_total = len(result.documents)
                repo.add(job)
                await session.flush()
                for document in result.documents:
                    document.ingest_job_id = job.id
                    repo.add(document)
                result.job = job
        if result.job is not None and start:
            await self.enqueue(result.job.id)
        return result

    async def ingest_text(self, kb_id: int, *, title: str, source: str, text: str) -> Document | None:
        """Add one text document and ingest it now (used by the demo loader and tests)."""
        name = source if source.endswith((".md", ".txt")) else f"{source}.txt"
        result = await self.add_documents(kb_id, [(name, text.encode())], start=False)
        if result.job is not None:
            await self.worker.run(result.job.id)
        return result.documents[0] if result.documents else None

    async def delete_document(self, kb_id: int, document_id: int) -> None:
        """Mark deleting, remove its vectors, then its rows (recover() finishes an interrupted delete)."""
        async with self.sessions.begin() as session:
            document = await KnowledgeRepository(session).document(document_id)
            if document is None or document.knowledge_base_id != kb_id:
                raise NotFound(f"document {document_id} not found in knowledge base {kb_id}")
            document.status = "deleting"
        await finish_document_deletion(self.sessions, self.store, kb_id, document_id)

    async def reingest(
        self, kb_id: int, *, chunk_size: int | None = None, chunk_overlap: int | None = None
    ) -> IngestJob:
        """Re-chunk and re-embed every document (e.g. with new chunk settings) in one job."""
        size, overlap = self._chunk_settings(chunk_size, chunk_overlap)
        await self.get(kb_id)
        async with self.sessions.begin() as session:
            repo = KnowledgeRepository(session)
            documents = [d for d in await repo.documents(kb_id) if d.status in ("ready", "failed")]
            if not documents:
                raise Invalid("the knowledge base has no documents to re-ingest")
            job = IngestJob(
                knowledge_base_id=kb_id,
                chunk_size=size,
                chunk_overlap=overlap,
                documents_total=len(documents),
            )
            repo.add(job)
            await session.flush()
            for document in documents:
                document.status, document.ingest_job_id = "pending", job.id
        await self.enqueue(job.id)
        return job
