"""RAG: retrieve top-k chunks from Chroma, number them in the prompt, ask for citations."""

from __future__ import annotations

from dataclasses import asdict
from typing import ClassVar

from app.pipelines.base import PipelineError, PreparedPrompt, Strategy, VariantSpec, system_messages
from app.prompts import render_prompt
from app.prompts.bounded import TemplateRenderer
from app.providers.base import ChatMessage
from app.retrieval.store import VectorStore


class RagPipeline:
    strategy: ClassVar[Strategy] = Strategy.RAG
    # The RAG instructions go in the system prompt unless the variant brings its own.
    default_system: ClassVar[str | None] = None

    def __init__(self, store: VectorStore | None, templates: TemplateRenderer):
        self._store = store
        self._templates = templates

    async def prepare(self, query: str, spec: VariantSpec) -> PreparedPrompt:
        """Retrieve contexts, then render them as numbered sources before the question."""
        contexts = await self.retrieve(query, spec)
        default = render_prompt("rag_system.j2") if self.default_system is None else self.default_system
        messages = system_messages(spec, default=default)
        if spec.context_template:
            try:
                user = await self._templates.render(spec.context_template, contexts=contexts, query=query)
            except ValueError as exc:
                raise PipelineError(f"the variant's context template failed: {exc}") from exc
        else:
            user = render_prompt("rag_user.j2", contexts=contexts, query=query)
        messages.append(ChatMessage("user", user))
        return PreparedPrompt(messages=messages, contexts=contexts)

    async def retrieve(self, query: str, spec: VariantSpec) -> list[dict[str, object]]:
        if not spec.collection or spec.top_k <= 0:
            raise PipelineError("this variant has no knowledge base or top_k is 0")
        if self._store is None:
            raise PipelineError("retrieval is not available in this process")
        try:
            chunks = await self._store.aquery(
                spec.collection, query, spec.top_k, min_score=spec.min_score, mmr=spec.use_mmr
            )
        except Exception as exc:
            raise PipelineError(f"retrieval failed: {exc}") from exc
        return [asdict(c) for c in chunks]


class RagFineTunedPipeline(RagPipeline):
    """The hybrid: the same retrieved context, sent to a fine-tuned model endpoint."""

    strategy: ClassVar[Strategy] = Strategy.RAG_FINE_TUNED
    # A fine-tuned model brings its own house style; only the variant's system prompt is sent.
    default_system: ClassVar[str | None] = ""
