"""Pydantic schemas for the catalog, comparisons, knowledge bases and the leaderboard."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from app.core.types import Id, Strict, UtcDateTime
from app.schemas.ratings import RatingOut

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Strategy = Literal["few_shot", "rag", "fine_tuned", "rag_fine_tuned"]
EndpointKind = Literal["openai", "anthropic"]
MAX_QUERY_CHARS = 8000


# --- endpoints -------------------------------------------------------------------------------


class EndpointIn(Strict):
    name: Name
    kind: EndpointKind = "openai"
    base_url: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    model: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    api_key: Annotated[str | None, Field(max_length=500)] = None
    price_prompt_per_m: Annotated[float | None, Field(ge=0, le=10_000)] = None
    price_completion_per_m: Annotated[float | None, Field(ge=0, le=10_000)] = None
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 60.0


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
    is_bundled: bool
    is_fine_tuned: bool
    archived_at: UtcDateTime | None
    created_at: UtcDateTime
    # Set on an edit that changed something you should know, e.g. a new base URL removed the stored key.
    notice: str | None = None


# --- example sets ----------------------------------------------------------------------------


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


# --- variants --------------------------------------------------------------------------------


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


class VariantIn(VariantConfig):
    name: Name
    strategy: Strategy
    description: Annotated[str, Field(max_length=2000)] = ""


class VariantPatch(Strict):
    name: Name | None = None
    description: Annotated[str | None, Field(max_length=2000)] = None
    endpoint_id: Id | None = None
    system_prompt: Annotated[str | None, Field(max_length=8000)] = None
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


# --- comparisons -----------------------------------------------------------------------------


Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
TAG_CHARACTERS = re.compile(r"^[\w.:/-]+$")


class ComparisonIn(Strict):
    query: str
    variant_ids: Annotated[list[Id] | None, Field(min_length=1, max_length=12)] = None
    # Where the question comes from (a question set, an experiment) and free labels; the leaderboard filters on both.
    dataset: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    tags: Annotated[list[Tag], Field(max_length=20)] = []

    @field_validator("tags")
    @classmethod
    def _tag_characters(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            if not TAG_CHARACTERS.match(tag):
                raise ValueError(f"tag {tag!r}: use letters, digits and . _ : / - only (no spaces)")
        return tags

    @field_validator("query")
    @classmethod
    def _query_bounds(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("query must not be empty")
        if len(value) > MAX_QUERY_CHARS:
            raise ValueError(f"query is {len(value)} characters; the limit is {MAX_QUERY_CHARS}")
        return value


class VariantRef(BaseModel):
    id: int
    name: str
    strategy: str
    version: int
    # Set when a fine-tuned strategy ran on a base model standing in for a fine-tune.
    notice: str | None = None


class ContextOut(BaseModel):
    source: str
    text: str
    score: float
    position: int | None = None
    heading: str | None = None


class OutputOut(BaseModel):
    id: int
    variant: VariantRef
    status: str
    text: str
    # The answer went past the server's cap (TRIPTYCH_MAX_ANSWER_KB) and is stored cut there.
    truncated: bool = False
    model: str
    latency_ms: float | None
    ttft_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    contexts: list[ContextOut]
    error: str | None
    # The exact messages sent to the model ([{role, content}]).
    prompt: list[dict[str, str]] = []


class ComparisonOut(BaseModel):
    id: int
    query: str
    created_at: UtcDateTime
    dataset: str = ""
    tags: list[str] = []
    outputs: list[OutputOut]
    ratings: list[RatingOut] = []


class ComparisonSummary(BaseModel):
    id: int
    query: str
    created_at: UtcDateTime
    dataset: str = ""
    tags: list[str] = []
    variant_count: int
    # Null for a rater who has not rated the comparison yet (they rate blind).
    error_count: int | None
    rating_count: int | None


# --- knowledge bases -------------------------------------------------------------------------


class KnowledgeBaseIn(Strict):
    name: Name
    description: Annotated[str, Field(max_length=2000)] = ""


class KnowledgeBaseOut(BaseModel):
    id: int
    name: str
    description: str
    embedding_model: str
    documents: int
    chunks: int
    created_at: UtcDateTime


class DocumentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    title: str
    source: str
    media_type: str
    size_bytes: int
    status: str
    chunk_count: int
    error: str | None
    created_at: UtcDateTime


class IngestJobOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    knowledge_base_id: int
    status: str
    documents_total: int
    documents_done: int
    chunks_done: int
    chunk_size: int
    chunk_overlap: int
    chunks_per_s: float | None = None
    error: str | None
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None


class UploadOut(BaseModel):
    job: IngestJobOut | None
    documents: list[DocumentOut]
    duplicates: list[str]


class ReingestIn(Strict):
    chunk_size: Annotated[int | None, Field(ge=50, le=20_000)] = None
    chunk_overlap: Annotated[int | None, Field(ge=0, le=10_000)] = None


class JudgementIn(Strict):
    relevant: bool


class RetrievalMetricsOut(BaseModel):
    variant_id: int
    variant_name: str
    outputs_judged: int
    precision_at_k: float
    mrr: float
    k: int


# --- leaderboard -----------------------------------------------------------------------------


class MeanOut(BaseModel):
    mean: float
    lower: float | None
    upper: float | None
    n: int


class StandingOut(BaseModel):
    id: int
    name: str
    strategy: str
    ratings: int
    # Mean 1-5 score per rubric dimension with a 95% t interval (null bounds for a single rating).
    means: dict[str, MeanOut]
    # Bradley-Terry log-strength (mean 0 across variants) with a bootstrap 95% interval.
    strength: float
    strength_lower: float
    strength_upper: float
    p_best: float


class LeaderboardOut(BaseModel):
    ratings: int
    raters: int
    standings: list[StandingOut]
    # win_rate[i][j]: share of games standing i won against standing j (ties count half); null if none.
    win_rate: list[list[float | None]]
    games: list[list[int]]
    agreement: dict[str, float | None]
    first_shown_wins: float | None
    first_shown_expected: float | None
    retrieval: list[RetrievalMetricsOut]
