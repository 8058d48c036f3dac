"""Request and response bodies for comparisons and their outputs."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, TypedDict

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from app.core.types import Id, Strict, UtcDateTime
from app.rating.schemas import RatingOut

MAX_QUERY_CHARS = 8000


class FinishedOutput(TypedDict, total=False):
    """An output row's values once its variant has answered or failed: what a run stores."""

    status: str
    text: str
    truncated: bool
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_usd: float | None
    ttft_ms: float | None
    wait_ms: float | None
    latency_ms: float
    finished_at: datetime
    error: str | None
    contexts: list[dict[str, Any]]
    prompt: list[dict[str, Any]]


Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]


TAG_CHARACTERS = re.compile(r"^[\w.:/-]+$")


class ComparisonIn(Strict):
    query: str
    variant_ids: Annotated[list[Id] | None, Field(min_length=1, max_length=12)] = None
    # Where the question comes from (a question set, an experiment) and free labels; the leaderboard filters on both.
    dataset: Annotated[str, StringConstraints(strip_whitespace=True, max_length=120)] = ""
    tags: Annotated[list[Tag], Field(max_length=20)] = []
    # Answer with server-sent events as the variants write (text/event-stream) instead of one JSON body.
    stream: bool = False

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
        return bounded_query(value)


def bounded_query(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("query must not be empty")
    if len(value) > MAX_QUERY_CHARS:
        raise ValueError(f"query is {len(value)} characters; the limit is {MAX_QUERY_CHARS}")
    return value


class SessionIn(Strict):
    """A new comparison session: its first question (to these variants, default all active), or an existing
    standalone comparison to continue (it becomes the first turn)."""

    query: str | None = None
    variant_ids: Annotated[list[Id] | None, Field(min_length=1, max_length=12)] = None
    comparison_id: Id | None = None
    stream: bool = False

    @field_validator("query")
    @classmethod
    def _query_bounds(cls, value: str | None) -> str | None:
        return None if value is None else bounded_query(value)

    @model_validator(mode="after")
    def _one_start(self) -> SessionIn:
        if (self.query is None) == (self.comparison_id is None):
            raise ValueError("give either a query (a new conversation) or a comparison_id (continue that one)")
        return self


class TurnIn(Strict):
    query: str
    stream: bool = False

    @field_validator("query")
    @classmethod
    def _query_bounds(cls, value: str) -> str:
        return bounded_query(value)


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
    # The model's own time; waiting behind other requests for the same model is wait_ms, not in these.
    latency_ms: float | None
    ttft_ms: float | None
    wait_ms: float | None = None
    # An experiment reused this answer from an earlier identical request (the id of the one it copies).
    cached_from_id: int | None = None
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
    # Set when the comparison is one item (and sample) of an experiment.
    experiment_id: int | None = None
    # Set when the comparison is a turn (1, 2, ...) of a comparison session.
    session_id: int | None = None
    turn: int = 0
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


class SessionOut(BaseModel):
    id: int
    title: str
    created_by: str
    created_at: UtcDateTime
    # Each turn as a comparison: one output per variant, each variant having seen only its own earlier answers.
    turns: list[ComparisonOut]


class SessionSummary(BaseModel):
    id: int
    title: str
    created_at: UtcDateTime
    turn_count: int
