"""Knowledge bases: documents in SQL, vectors in Chroma, kept in agreement."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.errors import Conflict, Invalid, NotFound
from app.models import Chunk, Document, KnowledgeBase
from app.repository import KnowledgeRepository
from app.retrieval.chunking import chunk_text
from app.retrieval.store import VectorStore


def collection_name_for(name: str) -> str:
    """A Chroma-safe, unique-enough collection name derived from the knowledge base name."""
    slug = re.sub(r"[^a-zA-Z0-9]+", "-", name).strip("-").lower()[:40] or "kb"
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return f"kb-{slug}-{digest}"


class KnowledgeService:
    """Creating knowledge bases and ingesting text; every write keeps SQL and Chroma in step."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], store: VectorStore):
        self.sessions = sessions
        self.store = store

    async def list(self) -> Sequence[KnowledgeBase]:
        async with self.sessions() as session:
            return await KnowledgeRepository(session).list()

    async def create(self, name: str, description: str = "") -> KnowledgeBase:
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

    async def ingest_text(
        self, kb_id: int, *, title: str, source: str, text: str, chunk_size: int = 800, overlap: int = 120
    ) -> Document:
        """Chunk, embed and store one document; a repeat of the same content returns the existing one.

        Order matters for consistency: the document row is committed as `pending`, vectors are
        upserted into Chroma, and only then are the chunk rows and `ready` committed together. A crash
        in between leaves a pending document whose chunk ids are deterministic, so a retry overwrites.
        """
        if not text.strip():
            raise Invalid(f"{source}: the document is empty")
        content_hash = hashlib.sha256(text.encode()).hexdigest()
        async with self.sessions.begin() as session:
            repo = KnowledgeRepository(session)
            kb = await repo.get(kb_id)
            if kb is None:
                raise NotFound(f"knowledge base {kb_id} not found")
            existing = await repo.document_by_hash(kb_id, content_hash)
            if existing is not None and existing.status == "ready":
                return existing
            document = existing or Document(
                knowledge_base_id=kb_id, title=title, source=source, content_hash=content_hash
            )
            repo.add(document)
            await session.flush()
            collection, document_id = kb.collection_name, document.id

        pieces = chunk_text(text, size=chunk_size, overlap=overlap)
        ids = [f"d{document_id}-c{p.position}-{content_hash[:12]}" for p in pieces]
        metadatas = [
            {
                "document_id": document_id,
                "source": source,
                "title": title,
                "position": p.position,
                "heading": p.heading,
            }
            for p in pieces
        ]
        await asyncio.to_thread(self.store.add_chunks, collection, ids, [p.text for p in pieces], metadatas)

        async with self.sessions.begin() as session:
            document = await session.get_one(Document, document_id)
            for chunk_id, piece in zip(ids, pieces, strict=True):
                await session.merge(
                    Chunk(
                        id=chunk_id,
                        document_id=document_id,
                        position=piece.position,
                        heading=piece.heading,
                        text=piece.text,
                    )
                )
            document.status, document.chunk_count = "ready", len(pieces)
        return document
