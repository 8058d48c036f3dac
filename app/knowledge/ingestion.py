"""The ingestion worker: chunk, embed in batches, write to Chroma, then commit to SQL — resumable.

Consistency rule: a document is `ready` only after all its vectors are in Chroma, and its chunk rows are
committed in the same transaction that marks it ready. Chunk ids are deterministic, and processing a
document starts by deleting any vectors it already has, so a crash at any point is repaired by running
the job again (which `recover` does on start).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.knowledge.repository import KnowledgeRepository
from app.models import Chunk, Document, IngestJob, KnowledgeBase, utcnow
from app.retrieval.chunking import TextChunk, chunk_text
from app.retrieval.store import VectorStore

log = logging.getLogger(__name__)
ProgressCallback = Callable[[IngestJob], None]


def chunk_id(document_id: int, position: int, content_hash: str) -> str:
    return f"d{document_id}-c{position}-{content_hash[:12]}"


@dataclass(frozen=True)
class _Work:
    document_id: int
    title: str
    source: str
    text: str
    content_hash: str


@dataclass
class _Run:
    """State of one job run: chunks waiting for a batch, and what each document still needs."""

    job_id: int
    collection: str
    on_progress: ProgressCallback | None
    queue: list[tuple[_Work, TextChunk]] = field(default_factory=list)
    plans: dict[int, tuple[_Work, list[TextChunk]]] = field(default_factory=dict)
    remaining: dict[int, int] = field(default_factory=dict)
    failures: int = 0


class IngestWorker:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: VectorStore, batch_size: int = 64):
        self.sessions = sessions
        self.store = store
        self.batch_size = batch_size
        # Hook for tests: called between batches, so a crash can be simulated mid-document.
        self.after_batch: Callable[[int], None] | None = None

    async def run(self, job_id: int, on_progress: ProgressCallback | None = None) -> None:
        """Ingest every pending document of the job, reporting progress after each batch.

        Chunks of consecutive documents share embedding batches: small documents would otherwise
        embed a few chunks at a time, well below the embedder's batch throughput.
        """
        async with self.sessions.begin() as session:
            job = await session.get_one(IngestJob, job_id)
            kb = await session.get_one(KnowledgeBase, job.knowledge_base_id)
            job.status, job.started_at = "running", job.started_at or utcnow()
            collection, size, overlap = kb.collection_name, job.chunk_size, job.chunk_overlap
            docs = await KnowledgeRepository(session).job_documents(job_id, status="pending")
            work = [_Work(d.id, d.title, d.source, d.text, d.content_hash) for d in docs]
        run = _Run(job_id, collection, on_progress)
        for item in work:
            try:
                pieces = chunk_text(item.text, size=size, overlap=overlap)
                # A clean slate: vectors from an interrupted run or an earlier chunking are removed first.
                await asyncio.to_thread(self.store.delete_document, collection, item.document_id)
            except Exception as exc:
                await self._fail_document(job_id, item.document_id, f"{type(exc).__name__}: {exc}")
                run.failures += 1
                continue
            run.plans[item.document_id] = (item, pieces)
            run.remaining[item.document_id] = len(pieces)
            run.queue.extend((item, piece) for piece in pieces)
            while len(run.queue) >= self.batch_size:
                await self._flush(run, self.batch_size)
            if not pieces:
                await self._finish_document(run, item.document_id)
        while run.queue:
            await self._flush(run, self.batch_size)
        async with self.sessions.begin() as session:
            job = await session.get_one(IngestJob, job_id)
            job.status = "failed" if run.failures and run.failures == len(work) else "succeeded"
            job.error = f"{run.failures} document(s) failed" if run.failures else None
            job.finished_at = utcnow()
        if on_progress is not None:
            on_progress(job)

    async def _flush(self, run: _Run, size: int) -> None:
        """Embed and upsert the next batch; commit every document whose chunks are now all in Chroma."""
        batch, run.queue = run.queue[:size], run.queue[size:]
        batch = [(item, piece) for item, piece in batch if item.document_id in run.plans]  # skip failed docs
        if not batch:
            return
        ids = [chunk_id(item.document_id, piece.position, item.content_hash) for item, piece in batch]
        metadatas = [
            {
                "document_id": item.document_id,
                "source": item.source,
                "title": item.title,
                "position": piece.position,
                "heading": piece.heading,
            }
            for item, piece in batch
        ]
        try:
            await asyncio.to_thread(
                self.store.add_chunks, run.collection, ids, [p.text for _i, p in batch], metadatas
            )
        except Exception as exc:
            log.exception("embedding a batch of job %s failed", run.job_id)
            for document_id in {item.document_id for item, _p in batch}:
                run.plans.pop(document_id, None)
                run.failures += 1
                await self._fail_document(run.job_id, document_id, f"{type(exc).__name__}: {exc}")
            return
        if self.after_batch is not None:
            self.after_batch(batch[-1][0].document_id)
        async with self.sessions.begin() as session:
            await KnowledgeRepository(session).count_job_progress(run.job_id, chunks=len(batch))
            if run.on_progress is not None:
                run.on_progress(await session.get_one(IngestJob, run.job_id))
        for item, _piece in batch:
            run.remaining[item.document_id] -= 1
        for document_id in sorted({item.document_id for item, _p in batch}):
            if run.remaining[document_id] == 0:
                await self._finish_document(run, document_id)

    async def _finish_document(self, run: _Run, document_id: int) -> None:
        """Chunk rows and `ready` in one transaction, after all the document's vectors are written."""
        item, pieces = run.plans.pop(document_id)
        async with self.sessions.begin() as session:
            repo = KnowledgeRepository(session)
            await repo.delete_chunks(document_id)
            for piece in pieces:
                repo.add(
                    Chunk(
                        id=chunk_id(document_id, piece.position, item.content_hash),
                        document_id=document_id,
                        position=piece.position,
                        heading=piece.heading,
                        text=piece.text,
                    )
                )
            document = await session.get_one(Document, document_id)
            document.status, document.chunk_count, document.error = "ready", len(pieces), None
            await repo.count_job_progress(run.job_id, documents=1)

    async def _fail_document(self, job_id: int, document_id: int, error: str) -> None:
        async with self.sessions.begin() as session:
            document = await session.get_one(Document, document_id)
            document.status, document.error = "failed", error[:2000]
            await KnowledgeRepository(session).count_job_progress(job_id, documents=1)

    async def recover(self) -> list[int]:
        """Finish interrupted deletions, give pending documents without a job one, and list the unfinished
        ingest jobs (the kernel's recovery enqueues them again)."""
        async with self.sessions.begin() as session:
            repo = KnowledgeRepository(session)
            deleting = [(d.id, d.knowledge_base_id) for d in await repo.documents_with_status("deleting")]
        for document_id, kb_id in deleting:
            await finish_document_deletion(self.sessions, self.store, kb_id, document_id)
        async with self.sessions.begin() as session:
            repo = KnowledgeRepository(session)
            orphans = [d for d in await repo.documents_with_status("pending") if d.ingest_job_id is None]
            for kb_id in sorted({d.knowledge_base_id for d in orphans}):
                job = IngestJob(knowledge_base_id=kb_id, status="queued")
                repo.add(job)
                await session.flush()
                for document in (d for d in orphans if d.knowledge_base_id == kb_id):
                    document.ingest_job_id = job.id
            job_ids = [j.id for j in await repo.unfinished_jobs()]
            for job_id in job_ids:
                job = await session.get_one(IngestJob, job_id)
                job.documents_total = (
                    len(await repo.job_documents(job_id, status="pending")) + job.documents_done
                )
        return job_ids


async def finish_document_deletion(
    sessions: async_sessionmaker[AsyncSession], store: VectorStore, kb_id: int, document_id: int
) -> None:
    """Vectors first, then rows: a crash in between leaves a `deleting` row that `recover` finishes."""
    async with sessions() as session:
        kb = await session.get_one(KnowledgeBase, kb_id)
        collection = kb.collection_name
    await asyncio.to_thread(store.delete_document, collection, document_id)
    async with sessions.begin() as session:
        document = await session.get(Document, document_id)
        if document is not None:
            await session.delete(document)


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
