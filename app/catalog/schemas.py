"""Request and response bodies for endpoints, example sets and variants."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.types import Id, Name, Strict, UtcDateTime
from app.pipelines.base import Strategy

EndpointKind = Literal["openai", "anthropic"]


class EndpointIn(Strict):
    name: Name
    kind: EndpointKind = "openai"
    base_url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    api_key: Annotated[str | None, Field(max_length=500)] = None
    price_prompt_per_m: Annotated[float | None, Field(ge=0, le=10_000)] = None
    price_completion_per_m: Annotated[float | None, Field(ge=0, le=10_000)] = None
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0
    # How many requests an experiment keeps in flight here at once (a rate limit's friend).
    max_concurrency: Annotated[int, Field(ge=1, le=256)] = 4
    # The model behind this endpoint is a fine-tune (a hosted one, or one served elsewhere): fine-tuned
    # variants on it are then shown as the real thing, not as a base-model stand-in.
    is_fine_tuned: bool = False


class EndpointPatch(Strict):
    name: Name | None = None
    kind: EndpointKind | None = None
    base_url: Annotated[
        str | None, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
    ] = None
    model: Annotated[str | None, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] = (
        None
    )
    # Omitted = keep the stored key; "" = remove it.
    api_key: Annotated[str | None, Field(max_length=500)] = None
    price_prompt_per_m: Annotated[float | None, Field(ge=0, le=10_000)] = None
    price_completion_per_m: Annotated[float | None, Field(ge=0, le=10_000)] = None
    timeout_s: Annotated[float | None, Field(gt=0, le=600)] = None
    max_concurrency: Annotated[int | None, Field(ge=1, le=256)] = None
    is_fine_tuned: bool | None = None


class EndpointOut(BaseModel):
    """Never carries the key: only whether one is set."""

    model_config = ConfigDict(from_attributes=True)
    id: int
    name: str
    kind: str
    base_url: str
    model: str
    has_key: bool
    price_prompt_per_m: float | None
    price_completion_per_m: float | None
    timeout_s: float
    max_concurrency: int
    is_bundled: bool
    is_fine_tuned: bool
    archived_at: UtcDateTime | None
    created_at: UtcDateTime
    # Set on an edit that changed something you should know, e.g. a new base URL removed the stored key.
    notice: str | None = None


class ExampleIn(Strict):
    input: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]
    output: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]


class ExampleSetIn(Strict):
    name: Name
    description: Annotated[str, Field(max_length=2000)] = ""
    examples: Annotated[list[ExampleIn], Field(max_length=5000)] = []


class ExampleSetPatch(Strict):
    name: Name | None = None
    description: Annotated[str | None, Field(max_length=2000)] = None
    # When given, replaces all examples.
    examples: Annotated[list[ExampleIn] | None, Field(max_length=5000)] = None


class ExampleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    input: str
    output: str


class ExampleSetOut(BaseModel):
    id: int
    name: str
    description: str
    example_count: int
    archived_at: UtcDateTime | None
    examples: list[ExampleOut] | None = None


class VariantConfig(Strict):
    """The versioned part of a variant: changing any of it makes a new version once used."""

    endpoint_id: Id
    system_prompt: Annotated[str, Field(max_length=8000)] = ""
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.2
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    max_tokens: Annotated[int, Field(ge=1, le=4096)] = 200
    example_set_id: Id | None = None
    few_shot_k: Annotated[int, Field(ge=0, le=32)] = 0
    few_shot_selection: Literal["first", "random", "similar"] = "first"
    knowledge_base_id: Id | None = None
    top_k: Annotated[int, Field(ge=0, le=20)] = 0
    # Chunks scoring below this cosine similarity are dropped; MMR trades a little relevance for variety.
    min_score: Annotated[float, Field(ge=0, le=1)] = 0.0
    use_mmr: bool = False
    # RAG: how the retrieved sources and the question are laid out for the model (a Jinja template with
    # `contexts` — each with source, heading, text — and `query`); empty = the built-in template.
    context_template: Annotated[str, Field(max_length=8000)] = ""


class VariantIn(VariantConfig):
    name: Name
    strategy: Strategy
    description: Annotated[str, Field(max_length=2000)] = ""


class VariantPatch(Strict):
    name: Name | None = None
    description: Annotated[str | None, Field(max_length=2000)] = None
    endpoint_id: Id | None = None
    system_prompt: Annotated[str | None, Field(max_length=8000)] = None
    context_template: Annotated[str | None, Field(max_length=8000)] = None
    temperature: Annotated[float | None, Field(ge=0, le=2)] = None
    top_p: Annotated[float | None, Field(gt=0, le=1)] = None
    max_tokens: Annotated[int | None, Field(ge=1, le=4096)] = None
    example_set_id: Id | None = None
    few_shot_k: Annotated[int | None, Field(ge=0, le=32)] = None
    few_shot_selection: Literal["first", "random", "similar"] | None = None
    knowledge_base_id: Id | None = None
    top_k: Annotated[int | None, Field(ge=0, le=20)] = None
    min_score: Annotated[float | None, Field(ge=0, le=1)] = None
    use_mmr: bool | None = None


class VariantOut(BaseModel):
    id: int
    name: str
    strategy: str
    description: str
    version: int
    version_id: int
    config_hash: str
    config: dict[str, Any]
    endpoint: dict[str, Any]
    # Set when a fine-tuned strategy points at a base model standing in for a fine-tune.
    notice: str | None
    archived_at: UtcDateTime | None


class ModelCallsOut(BaseModel):
    """What the model gateway saw of one endpoint (base URL and model) since this process started."""

    base_url: str
    model: str
    calls: int
    errors: int
    # Time in the gateway (queue, retries and the answer), over the latest 200 calls.
    p50_ms: float | None
    p95_ms: float | None
    last_error: str
