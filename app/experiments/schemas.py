"""Request and response bodies for experiments."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from app.core.types import Id, Strict, UtcDateTime

MAX_REPEATS = 10
# Items x variants x repeats: every output row is written when the experiment is created, and runs for hours
# at a model's pace; past this, split the dataset or run fewer variants or repeats.
MAX_OUTPUTS = 20_000


class ExperimentIn(Strict):
    dataset_id: Id
    # Omitted: every active variant.
    variant_ids: Annotated[list[Id] | None, Field(min_length=1, max_length=12)] = None
    repeats: Annotated[int, Field(ge=1, le=MAX_REPEATS)] = 1
    # An endpoint whose model judges pairs of answers (both orders); omitted: no judge.
    judge_endpoint_id: Id | None = None
    # Ask the models again even where a cached answer exists.
    refresh: bool = False
    name: Annotated[str, Field(max_length=200)] = ""


class ProgressOut(BaseModel):
    total: int
    done: int
    errors: int
    cached: int
    pending: int
    scored: int
    judged: int
    judge_total: int
    # Outputs finished per minute over the last minute (model calls, not cache hits); None before any.
    throughput_per_min: float | None
    eta_s: float | None
    # When the latest output was finished: with started_at, how long the answers took.
    last_answer_at: UtcDateTime | None = None


class ExperimentVariantOut(BaseModel):
    id: int
    name: str
    strategy: str
    version: int
    version_id: int


class ExperimentOut(BaseModel):
    id: int
    name: str
    status: str
    dataset: dict[str, int | str]
    variants: list[ExperimentVariantOut]
    repeats: int
    refresh: bool
    judge_endpoint_id: int | None
    items: int
    progress: ProgressOut
    error: str | None
    created_by: str
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None
