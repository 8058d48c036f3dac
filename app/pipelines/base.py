"""The Pipeline protocol: each strategy turns a query and a variant into the messages to send."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from app.providers.base import ChatMessage, EndpointConfig


class Strategy(StrEnum):
    """How a variant adapts the model: the one list, used by the models, schemas, pages and the pipeline
    registry (one pipeline per member)."""

    FEW_SHOT = "few_shot"
    RAG = "rag"
    FINE_TUNED = "fine_tuned"
    RAG_FINE_TUNED = "rag_fine_tuned"


# Strategies that retrieve chunks from a knowledge base, and those that expect a fine-tuned model.
RETRIEVAL_STRATEGIES = frozenset({Strategy.RAG, Strategy.RAG_FINE_TUNED})
FINE_TUNED_STRATEGIES = frozenset({Strategy.FINE_TUNED, Strategy.RAG_FINE_TUNED})


@dataclass(frozen=True)
class ExamplePair:
    input: str
    output: str


@dataclass(frozen=True)
class VariantSpec:
    """A snapshot of one variant version, decoupled from the ORM so pipelines stay pure."""

    variant_id: int
    version_id: int
    name: str
    strategy: str
    endpoint: EndpointConfig
    system_prompt: str = ""
    context_template: str = ""
    temperature: float = 0.2
    top_p: float = 1.0
    max_tokens: int = 200
    examples: tuple[ExamplePair, ...] = ()
    few_shot_k: int = 0
    few_shot_selection: str = "first"
    collection: str | None = None
    top_k: int = 0
    min_score: float = 0.0
    use_mmr: bool = False


@dataclass(frozen=True)
class PreparedPrompt:
    """What will be sent, plus the evidence gathered to build it."""

    messages: list[ChatMessage]
    contexts: list[dict[str, Any]] = field(default_factory=list)


class PipelineError(Exception):
    """Preparing the prompt failed (e.g. retrieval); the message is stored on the output."""


class Pipeline(Protocol):
    strategy: ClassVar[Strategy]

    async def prepare(self, query: str, spec: VariantSpec) -> PreparedPrompt:
        """Build the messages (and gather evidence) for one query."""
        ...


def system_messages(spec: VariantSpec, default: str = "") -> list[ChatMessage]:
    """The variant's system prompt, or `default`, as a leading message (none when both are empty)."""
    text = spec.system_prompt.strip() or default
    return [ChatMessage("system", text)] if text else []
