"""`triptych kb check`: compare SQL and Chroma for every knowledge base, and repair differences."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.knowledge.ingestion import IngestWorker
from app.knowledge.repository import KnowledgeRepository
from app.retrieval.store import VectorStore


@dataclass
class KnowledgeBaseReport:
    kb_id: int
    name: str
    sql_chunks: int
    chroma_vectors: int
    missing_in_chroma: list[str] = field(default_factory=list)
    orphans_in_chroma: list[str] = field(default_factory=list)
    unfinished_documents: list[int] = field(default_factory=list)
    repaired: bool = False

    @property
    def consistent(self) -> bool:
        return not (self.missing_in_chroma or self.orphans_in_chroma or self.unfinished_documents)


async def check_knowledge_bases(
    sessions: async_sessionmaker[AsyncSession], store: VectorStore, worker: IngestWorker, *, repair: bool
) -> list[KnowledgeBaseReport]:
    """One report per knowledge base; with repair, re-embed missing vectors, drop orphans, resume documents."""
    reports = []
    async with sessions() as session:
        repo = KnowledgeRepository(session)
        bases = list(await repo.list())
    for kb in bases:
        async with sessions() as session:
            repo = KnowledgeRepository(session)
            rows = await repo.ready_chunks_with_sources(kb.id)
            unfinished = [d.id for d in await repo.documents(kb.id) if d.status in ("pending", "deleting")]
        sql = {row[0].id: row for row in rows}
        chroma = await asyncio.to_thread(store.all_ids, kb.collection_name)
        # Vectors of documents still being ingested or deleted are expected to differ until that finishes.
        in_flight = tuple(f"d{doc_id}-" for doc_id in unfinished)
        report = KnowledgeBaseReport(
            kb_id=kb.id,
            name=kb.name,
            sql_chunks=len(sql),
            chroma_vectors=len(chroma),
            missing_in_chroma=sorted(set(sql) - chroma),
            orphans_in_chroma=sorted(i for i in chroma - set(sql) if not i.startswith(in_flight)),
            unfinished_documents=unfinished,
        )
        if repair and not report.consistent:
            if report.missing_in_chroma:
                missing = [sql[i] for i in report.missing_in_chroma]
                await asyncio.to_thread(
                    store.add_chunks,
                    kb.collection_name,
                    [c.id for c, _s, _t in missing],
                    [c.text for c, _s, _t in missing],
                    [
                        {
                            "document_id": c.document_id,
                            "source": s,
                            "title": t,
                            "position": c.position,
                            "heading": c.heading,
                        }
                        for c, s, t in missing
                    ],
                )
            if report.orphans_in_chroma:
                await asyncio.to_thread(store.delete_chunks, kb.collection_name, report.orphans_in_chroma)
            report.repaired = True
        reports.append(report)
    if repair and any(r.unfinished_documents for r in reports):
        for job_id in await worker.recover():
            await worker.run(job_id)
    return reports
