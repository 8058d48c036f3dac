"""Few-shot: system prompt, k worked examples as chat turns, then the query."""

from __future__ import annotations

import asyncio
import hashlib
import random
from typing import ClassVar

from app.pipelines.base import ExamplePair, PreparedPrompt, Strategy, VariantSpec, system_messages
from app.providers.base import ChatMessage
from app.retrieval.embeddings import Embedder


class FewShotPipeline:
    strategy: ClassVar[Strategy] = Strategy.FEW_SHOT

    def __init__(self, embedder: Embedder | None):
        self._embedder = embedder
        self._example_vectors: dict[str, list[float]] = {}

    async def prepare(self, query: str, spec: VariantSpec) -> PreparedPrompt:
        """System prompt + selected examples as user/assistant turns + the query."""
        examples = await self.select(query, spec)
        messages = system_messages(spec)
        for example in examples:
            messages.append(ChatMessage("user", example.input))
            messages.append(ChatMessage("assistant", example.output))
        messages.append(ChatMessage("user", query))
        return PreparedPrompt(messages=messages)

    async def select(self, query: str, spec: VariantSpec) -> list[ExamplePair]:
        """Pick k examples: the first k, a query-seeded random k (reproducible), or the k most similar."""
        pool, k = list(spec.examples), min(spec.few_shot_k, len(spec.examples))
        if k <= 0:
            return []
        if spec.few_shot_selection == "random":
            seed = hashlib.sha256(f"{spec.version_id}:{query}".encode()).hexdigest()
            return random.Random(seed).sample(pool, k)
        if spec.few_shot_selection == "similar" and self._embedder is not None:
            return await asyncio.to_thread(self._most_similar, query, pool, k)
        return pool[:k]

    def _most_similar(self, query: str, pool: list[ExamplePair], k: int) -> list[ExamplePair]:
        assert self._embedder is not None
        missing = [e.input for e in pool if e.input not in self._example_vectors]
        for text, vector in zip(missing, self._embedder.embed(missing), strict=True):
            self._example_vectors[text] = vector
        [q] = self._embedder.embed([query])
        scored = sorted(
            pool, key=lambda e: -sum(a * b for a, b in zip(q, self._example_vectors[e.input], strict=True))
        )
        return scored[:k]
