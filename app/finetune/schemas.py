"""Request and response bodies for training sets and fine-tuning jobs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from app.core.jobs import FINISHED_STATUSES
from app.core.types import Id, Name, Strict, UtcDateTime
from app.datasets.schemas import FormatKind

Backend = Literal["local", "openai"]
JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED_JOBS = FINISHED_STATUSES  # the job kernel's one vocabulary


class TrainingSetIn(Strict):
    name: Name
    example_set_id: Id | None = None
    # Corrected answers raters wrote on rated comparisons (the correction is the target).
    include_corrections: bool = False
    # The best-ranked answer of each rated comparison whose mean score (1-5) reaches min_score.
    include_top_rated: bool = False
    min_score: Annotated[float, Field(ge=1, le=5)] = 4.0
    system_prompt: Annotated[str, Field(max_length=8000)] = ""
    validation_fraction: Annotated[float, Field(ge=0, le=0.5)] = 0.2
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    # Teach the hybrid too: every row a second time as the RAG prompt it will see (this knowledge base's
    # top_k sources for the question, laid out as the RAG pipeline does), the answer citing the source it
    # overlaps most.
    knowledge_base_id: Id | None = None
    top_k: Annotated[int, Field(ge=1, le=10)] = 3

    @model_validator(mode="after")
    def _has_a_source(self) -> TrainingSetIn:
        if self.example_set_id is None and not (self.include_corrections or self.include_top_rated):
            raise ValueError("choose an example set, corrections or top-rated answers (or several)")
        return self


class TrainingExampleOut(BaseModel):
    position: int
    split: str
    prompt: str
    completion: str
    rejected: str | None
    source_kind: str
    source_id: int
    comparison_id: int | None


class TrainingSetOut(BaseModel):
    id: int
    name: str
    example_set_id: int | None
    include_corrections: bool
    include_top_rated: bool
    min_score: float
    system_prompt: str
    validation_fraction: float
    seed: int
    knowledge_base_id: int | None
    top_k: int
    train_count: int
    validation_count: int
    duplicates_dropped: int
    # How many rows came from each source: {"example": 40, "correction": 3, "top_rated": 5}.
    sources: dict[str, int]
    created_by: str
    created_at: UtcDateTime
    # A few rows, as the preview shows them (GET .../examples has them all).
    preview: list[TrainingExampleOut]


class HyperparametersIn(Strict):
    """Defaults that work on the demo set (about a minute an epoch on two cores)."""

    epochs: Annotated[int, Field(ge=1, le=20)] = 3
    rank: Annotated[int, Field(ge=1, le=64)] = 16
    learning_rate: Annotated[float, Field(gt=0, le=0.01)] = 3e-4


class FineTuneJobIn(Strict):
    training_set_id: Id
    # local: LoRA of the bundled model on this machine; openai: a hosted fine-tuning API on `endpoint_id`.
    backend: Backend = "local"
    endpoint_id: Id | None = None
    # The hosted model to fine-tune (default: the endpoint's model); ignored for local jobs.
    base_model: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    hyperparameters: HyperparametersIn = HyperparametersIn()
    # Run the automatic before/after experiment when the model is ready (the validation split and the
    # bundled general-knowledge probes), checking answers against this format rule as datasets do.
    evaluate: bool = True
    format_kind: FormatKind = ""
    format_rule: Annotated[str, Field(max_length=20_000)] = ""

    @model_validator(mode="after")
    def _hosted_needs_an_endpoint(self) -> FineTuneJobIn:
        if self.backend == "openai" and self.endpoint_id is None:
            raise ValueError("endpoint_id: a hosted job needs the endpoint whose API trains the model")
        return self


class LossPoint(BaseModel):
    step: float
    loss: float


class FineTuneJobOut(BaseModel):
    id: int
    training_set_id: int
    training_set_name: str
    backend: str
    endpoint_id: int | None
    base_model: str
    hyperparameters: dict[str, float | int]
    status: str
    step: int
    total_steps: int | None
    epoch: float
    losses: list[LossPoint]
    validation_losses: list[LossPoint]
    eta_s: float | None
    error: str | None
    external_id: str | None
    result_model: str | None
    result_endpoint_id: int | None
    evaluation_dataset_id: int | None
    evaluation_experiment_id: int | None
    resumed: int
    created_by: str
    created_at: UtcDateTime
    started_at: UtcDateTime | None
    finished_at: UtcDateTime | None


class PublishedVariantsOut(BaseModel):
    """The one-click variants pointing at a job's model."""

    endpoint_id: int
    variant_ids: list[int]
