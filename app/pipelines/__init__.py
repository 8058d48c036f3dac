"""Pipelines by strategy; the comparison service picks one per variant from this registry."""

from __future__ import annotations

from app.pipelines.base import Pipeline
from app.pipelines.few_shot import FewShotPipeline
from app.pipelines.fine_tuned import FineTunedPipeline
from app.pipelines.rag import RagFineTunedPipeline, RagPipeline
from app.prompts.bounded import TemplateRenderer
from app.retrieval.store import VectorStore


def build_pipelines(store: VectorStore | None, templates: TemplateRenderer) -> dict[str, Pipeline]:
    """One pipeline per strategy, sharing the vector store, its embedder and the user-template renderer."""
    embedder = store.embedder if store is not None else None
    pipelines: list[Pipeline] = [
        FewShotPipeline(embedder),
        RagPipeline(store, templates),
        FineTunedPipeline(),
        RagFineTunedPipeline(store, templates),
    ]
    return {p.strategy: p for p in pipelines}
