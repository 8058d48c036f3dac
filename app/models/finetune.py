"""Fine-tuning: training sets built from the team's examples and ratings, and the jobs that train on them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped


class TrainingSet(Timestamped, Base):
    """Built once from its sources (an example set, corrected answers, top-ranked answers); never edited, so
    a job always says exactly what it trained on. The recipe is kept beside the rows."""

    __tablename__ = "training_sets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # Sent as the system message of every training example (empty: none, as the demo's variants send).
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    example_set_id: Mapped[int | None] = mapped_column(ForeignKey("example_sets.id", ondelete="SET NULL"))
    include_corrections: Mapped[bool] = mapped_column(Boolean, default=False)
    # Top-ranked answers of rated comparisons whose mean score reaches min_score (1-5).
    include_top_rated: Mapped[bool] = mapped_column(Boolean, default=False)
    min_score: Mapped[float] = mapped_column(Float, default=4.0)
    validation_fraction: Mapped[float] = mapped_column(Float, default=0.2)
    seed: Mapped[int] = mapped_column(Integer, default=0)
    # Rows were also rendered as RAG prompts with this knowledge base's top_k sources (for the hybrid).
    knowledge_base_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge_bases.id", ondelete="SET NULL"))
    top_k: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    # How many candidate rows were dropped as duplicates of an earlier one (same prompt and answer).
    duplicates_dropped: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    examples: Mapped[list[TrainingExample]] = relationship(
        order_by="TrainingExample.position", cascade="all, delete-orphan", back_populates="training_set"
    )


class TrainingExample(Base):
    """One prompt -> answer pair with its lineage: where it came from (`source_kind` + `source_id`)."""

    __tablename__ = "training_examples"

    id: Mapped[int] = mapped_column(primary_key=True)
    training_set_id: Mapped[int] = mapped_column(
        ForeignKey("training_sets.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    split: Mapped[str] = mapped_column(String(12))  # train | validation
    prompt: Mapped[str] = mapped_column(Text)
    completion: Mapped[str] = mapped_column(Text)
    # For DPO: a worse answer to the same prompt (a lower-ranked output, or the answer a correction replaced).
    rejected: Mapped[str | None] = mapped_column(Text)
    # example (examples.id) | correction (ratings.id) | top_rated (outputs.id)
    source_kind: Mapped[str] = mapped_column(String(20))
    source_id: Mapped[int] = mapped_column(Integer)
    comparison_id: Mapped[int | None] = mapped_column(Integer)
    training_set: Mapped[TrainingSet] = relationship(back_populates="examples")


class FineTuneJob(Timestamped, Base):
    """One training run. status: queued -> running -> succeeded | failed | cancelled.

    `backend` names the training backend (local LoRA, or a hosted OpenAI-compatible fine-tuning API on
    `endpoint_id`); `result_model` is the fine-tuned model's id once it exists, served on
    `result_endpoint_id`; `evaluation_experiment_id` is the automatic before/after experiment."""

    __tablename__ = "finetune_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    training_set_id: Mapped[int] = mapped_column(ForeignKey("training_sets.id"), index=True)
    backend: Mapped[str] = mapped_column(String(20))
    endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id"))
    base_model: Mapped[str] = mapped_column(String(200))
    hyperparameters: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    step: Mapped[int] = mapped_column(Integer, default=0)
    total_steps: Mapped[int | None] = mapped_column(Integer)
    epoch: Mapped[float] = mapped_column(Float, default=0.0)
    # [[step, loss], ...] and [[epoch, validation loss], ...]: the curves the job page draws.
    losses: Mapped[list[Any]] = mapped_column(default=list)
    validation_losses: Mapped[list[Any]] = mapped_column(default=list)
    # Seconds of training so far (a resumed run adds to it), for the time left.
    train_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    error: Mapped[str | None] = mapped_column(Text)
    # The hosted API's job id, and its training file id.
    external_id: Mapped[str | None] = mapped_column(String(200))
    result_model: Mapped[str | None] = mapped_column(String(200))
    result_endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id"))
    # The before/after dataset (the validation split and the general probes), made with the job.
    evaluation_dataset_id: Mapped[int | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"))
    evaluation_experiment_id: Mapped[int | None] = mapped_column(ForeignKey("experiments.id", ondelete="SET NULL"))
    # Automatically point these existing variants at the result (the demo does), as new versions.
    repoint_variant_ids: Mapped[list[Any]] = mapped_column(default=list)
    resumed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_by: Mapped[str] = mapped_column(String(120), default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
