"""Ingest throughput (chunks/s) end to end, beside the raw embedding speed of the same model on the same chunks.

    .venv/bin/python bench/ingest.py [--documents 200] [--paragraphs 6]

Builds synthetic policy-like documents, chunks them once to know the chunks, measures raw
`Embedder.embed` over those chunk texts, then measures the full pipeline (SQL rows, Chroma upserts,
progress updates) through the ingestion worker on embedded SQLite + Chroma. Target: the pipeline within
90% of raw embedding speed.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.settings import Settings
from app.retrieval.chunking import chunk_text
from app.state import open_state

WORDS = [
    "employee",
    "manager",
    "approval",
    "request",
    "days",
    "policy",
    "travel",
    "expense",
    "limit",
    "contract",
    "warehouse",
    "fleet",
    "safety",
    "training",
    "budget",
    "review",
    "leave",
    "report",
    "insurance",
    "claim",
    "receipt",
    "office",
    "schedule",
]


def make_documents(n: int, paragraphs: int, seed: int = 7) -> list[tuple[str, bytes]]:
    rng = random.Random(seed)
    docs = []
    for d in range(n):
        parts = [f"# Policy {d}"]
        for p in range(paragraphs):
            sentences = [
                " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 16))).capitalize()
                + f" (rule {d}.{p}.{s})."
                for s in range(rng.randint(3, 6))
            ]
            parts.append(f"## Section {p}\n\n" + " ".join(sentences))
        docs.append((f"policy-{d}.md", "\n\n".join(parts).encode()))
    return docs


async def run(documents: int, paragraphs: int) -> None:
    files = make_documents(documents, paragraphs)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp), serve_local_model=False, load_demo=False)
        async with open_state(settings) as state:
            texts = [
                c.text
                for _name, data in files
                for c in chunk_text(data.decode(), size=settings.chunk_size, overlap=settings.chunk_overlap)
            ]
            state.store.embedder.embed(texts[:64])  # load the model outside the timings
            started = time.perf_counter()
            for i in range(0, len(texts), settings.embedding_batch_size):
                state.store.embedder.embed(texts[i : i + settings.embedding_batch_size])
            raw = len(texts) / (time.perf_counter() - started)

            kb = await state.knowledge.create("bench")
            result = await state.knowledge.add_documents(kb.id, files, start=False)
            assert result.job is not None
            started = time.perf_counter()
            await state.ingest.run(result.job.id)
            elapsed = time.perf_counter() - started
            job = await state.knowledge.job(result.job.id)
            pipeline = job.chunks_done / elapsed
    print(
        f"documents: {documents}, chunks: {len(texts)} (chunk size {settings.chunk_size}, overlap {settings.chunk_overlap})"
    )
    print(
        f"raw embedding ({state.store.embedder.name}, batch {settings.embedding_batch_size}): {raw:.0f} chunks/s"
    )
    print(
        f"ingest pipeline end to end (SQLite + embedded Chroma): {pipeline:.0f} chunks/s = {100 * pipeline / raw:.0f}% of raw"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--documents", type=int, default=200)
    parser.add_argument("--paragraphs", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(run(args.documents, args.paragraphs))


if __name__ == "__main__":
    main()
