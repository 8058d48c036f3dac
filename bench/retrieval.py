"""Query latency p50/p99 at 10k and 100k chunks, and the app's overhead over a raw Chroma query.

    .venv/bin/python bench/retrieval.py [--sizes 10000 100000] [--queries 200]

Vectors are random unit vectors written straight into an embedded Chroma collection (embedding 100k real
chunks would take ~6 minutes and measures the embedder, not retrieval). The raw figure is
`collection.query` with a precomputed query vector; the app figure is `VectorStore.query` (embedding the
query text with MiniLM, querying, shaping results) and, separately, the same with MMR.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.retrieval.embeddings import Embedder
from app.retrieval.store import VectorStore, create_chroma_client

DIMS = 384


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def fill(store: VectorStore, name: str, n: int, rng: np.random.Generator) -> None:
    collection = store._collection(name)
    batch = 5000
    for start in range(0, n, batch):
        count = min(batch, n - start)
        vectors = rng.normal(size=(count, DIMS)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        collection.add(
            ids=[f"c{start + i}" for i in range(count)],
            embeddings=vectors,
            documents=[f"chunk {start + i} text about policy {i % 97}" for i in range(count)],
            metadatas=[
                {
                    "document_id": (start + i) // 10,
                    "source": f"doc-{(start + i) // 10}.md",
                    "position": i % 10,
                    "heading": "",
                }
                for i in range(count)
            ],
        )


def timed(fn: object, repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()  # type: ignore[operator]
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--top-k", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(3)
    embedder = Embedder()
    embedder.embed(["warm up"])
    with tempfile.TemporaryDirectory() as tmp:
        store = VectorStore(create_chroma_client(None, Path(tmp)), embedder)
        questions = [f"How many vacation days do new employees get in year {i}?" for i in range(args.queries)]
        for size in args.sizes:
            name = f"bench-{size}"
            started = time.perf_counter()
            fill(store, name, size, rng)
            load_s = time.perf_counter() - started
            collection = store._collection(name)
            query_vectors = [embedder.embed([q])[0] for q in questions[:20]]
            raw = timed(
                lambda: collection.query(
                    query_embeddings=[query_vectors[0]],
                    n_results=args.top_k,
                    include=["documents", "metadatas", "distances"],
                ),
                args.queries,
            )
            embed_only = timed(lambda: embedder.embed([questions[0]]), args.queries)
            it = iter(questions * 2)
            app = timed(lambda: store.query(name, next(it), args.top_k), args.queries)
            it = iter(questions * 2)
            mmr = timed(lambda: store.query(name, next(it), args.top_k, mmr=True), args.queries)
            print(f"{size:>7} chunks (loaded in {load_s:.0f} s), top {args.top_k}, {args.queries} queries:")
            for label, values in (
                ("raw Chroma query", raw),
                ("query embedding (MiniLM)", embed_only),
                ("app VectorStore.query", app),
                ("app query with MMR", mmr),
            ):
                print(
                    f"    {label:<26} p50 {percentile(values, 50):6.2f} ms   p99 {percentile(values, 99):6.2f} ms"
                )
            overhead = statistics.median(app) - statistics.median(raw) - statistics.median(embed_only)
            print(f"    app overhead beyond raw query + embedding: {overhead:+.2f} ms at p50")


if __name__ == "__main__":
    main()
