"""Chroma access: embedded PersistentClient by default, HttpClient when a server URL is set."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import chromadb
from chromadb.api import ClientAPI
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings

from app.retrieval.embeddings import Embedder
from app.retrieval.mmr import mmr_select


class _EmbedderFunction(EmbeddingFunction[Documents]):
    """Hands Chroma our bundled embedder: its default would download a model and fail offline."""

    def __init__(self, embedder: Embedder):
        self._embedder = embedder

    def __call__(self, input: Documents) -> Embeddings:
        import numpy as np

        return [np.asarray(v, dtype=np.float32) for v in self._embedder.embed(list(input))]

    @staticmethod
    def name() -> str:
        return "triptych-minilm"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> _EmbedderFunction:
        # Chroma probes this to decide the function is not "legacy"; loading stays lazy.
        return _EmbedderFunction(Embedder())

    def default_space(self) -> Any:
        return "cosine"


@dataclass(frozen=True)
class RetrievedChunk:
    chunk_id: str
    text: str
    source: str
    position: int
    heading: str
    score: float


def create_chroma_client(chroma_url: str | None, persist_path: Path) -> ClientAPI:
    """One client for the app's lifetime; telemetry always off."""
    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if chroma_url:
        parsed = urlparse(chroma_url)
        return chromadb.HttpClient(
            host=parsed.hostname or "127.0.0.1",
            port=parsed.port or 8000,
            ssl=parsed.scheme == "https",
            settings=settings,
        )
    persist_path.mkdir(parents=True, exist_ok=True)
    return chromadb.PersistentClient(path=str(persist_path), settings=settings)


class VectorStore:
    """Adds, deletes and queries chunk vectors; embeddings are computed by our embedder, never Chroma's."""

    def __init__(self, client: ClientAPI, embedder: Embedder):
        self._client = client
        self.embedder = embedder
        self._embedding_function = _EmbedderFunction(embedder)

    def heartbeat(self) -> None:
        """Raises unless Chroma answers (embedded: always; server mode: over the network)."""
        self._client.heartbeat()

    def _collection(self, name: str) -> Any:
        return self._client.get_or_create_collection(
            name=name,
            embedding_function=self._embedding_function,  # type: ignore[arg-type]
            metadata={"hnsw:space": "cosine"},
        )

    def add_chunks(
        self, collection: str, ids: list[str], texts: list[str], metadatas: list[dict[str, Any]]
    ) -> None:
        """Embed and upsert chunks (upsert makes a retried ingest idempotent)."""
        if not ids:
            return
        embeddings = self.embedder.embed(texts)
        self._collection(collection).upsert(
            ids=ids,
            documents=texts,
            metadatas=metadatas,
            embeddings=embeddings,
        )

    def delete_chunks(self, collection: str, ids: list[str]) -> None:
        if ids:
            self._collection(collection).delete(ids=ids)

    def count(self, collection: str) -> int:
        return int(self._collection(collection).count())

    def all_ids(self, collection: str) -> set[str]:
        return set(self._collection(collection).get(include=[])["ids"])

    def has_collection(self, collection: str) -> bool:
        try:
            self._client.get_collection(collection, embedding_function=self._embedding_function)  # type: ignore[arg-type]
        except Exception:
            return False
        return True

    def drop_collection(self, collection: str) -> None:
        try:
            self._client.delete_collection(collection)
        except Exception:
            return

    def delete_document(self, collection: str, document_id: int) -> None:
        """Remove every vector of a document, including any whose SQL rows were never written."""
        self._collection(collection).delete(where={"document_id": document_id})

    def query(
        self, collection: str, text: str, top_k: int, *, min_score: float = 0.0, mmr: bool = False
    ) -> list[RetrievedChunk]:
        """Top-k chunks by cosine similarity (score = 1 - distance), optionally diversified with MMR."""
        [vector] = self.embedder.embed([text])
        # MMR picks from a wider pool of candidates; plain search needs only k.
        n = top_k * 4 if mmr else top_k
        result = self._collection(collection).query(
            query_embeddings=[vector],
            n_results=n,
            include=["documents", "metadatas", "distances", "embeddings"],
        )
        chunks: list[RetrievedChunk] = []
        for chunk_id, doc, meta, dist in zip(
            result["ids"][0],
            (result["documents"] or [[]])[0],
            (result["metadatas"] or [[]])[0],
            (result["distances"] or [[]])[0],
            strict=True,
        ):
            meta = meta or {}
            chunks.append(
                RetrievedChunk(
                    chunk_id=chunk_id,
                    text=doc or "",
                    source=str(meta.get("source", "")),
                    position=int(meta.get("position", 0) or 0),
                    heading=str(meta.get("heading", "")),
                    score=round(1.0 - float(dist), 4),
                )
            )
        if mmr and chunks:
            embeddings = [list(map(float, e)) for e in (result["embeddings"] or [[]])[0]]
            chunks = [chunks[i] for i in mmr_select(vector, embeddings, top_k)]
        return [c for c in chunks if c.score >= min_score][:top_k]

    async def aquery(
        self, collection: str, text: str, top_k: int, *, min_score: float = 0.0, mmr: bool = False
    ) -> list[RetrievedChunk]:
        """`query` off the event loop."""
        return await asyncio.to_thread(self.query, collection, text, top_k, min_score=min_score, mmr=mmr)
