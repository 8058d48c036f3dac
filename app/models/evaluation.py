"""Datasets (versioned items to evaluate on), experiments over them, and the automatic metrics of outputs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped


class Dataset(Timestamped, Base):
    """A named evaluation set; its items live in versions, and a version is frozen once an experiment ran it."""

    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    versions: Mapped[list[DatasetVersion]] = relationship(
        back_populates="dataset", order_by="DatasetVersion.version", cascade="all, delete-orphan"
    )


class DatasetVersion(Timestamped, Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (UniqueConstraint("dataset_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    # The answer format every output should follow: "" (none), "regex" or "json_schema".
    format_kind: Mapped[str] = mapped_column(String(20), default="")
    format_rule: Mapped[str] = mapped_column(Text, default="")
    # Items with this tag are general-knowledge probes: exempt from the format rule, scored for correctness,
    # and counted in the verdict as what a variant (a fine-tune, typically) got wrong that its base got right.
    probe_tag: Mapped[str] = mapped_column(String(60), default="general", server_default="general")
    dataset: Mapped[Dataset] = relationship(back_populates="versions")
    items: Mapped[list[DatasetItem]] = relationship(
        back_populates="dataset_version", order_by="DatasetItem.position", cascade="all, delete-orphan"
    )


class DatasetItem(Base):
    __tablename__ = "dataset_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    query: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(Text, default="")
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # The document (its source name) that holds the answer, for the retrieval-hit metric.
    expected_source: Mapped[str] = mapped_column(String(300), default="")
    # Lineage: the rated comparison this item's reference came from (a fine-tune's evaluation items are its
    # validation rows, whose references may be corrected answers). Reads are scoped by it, as training rows.
    comparison_id: Mapped[int | None] = mapped_column(Integer)
    dataset_version: Mapped[DatasetVersion] = relationship(back_populates="items")


class Experiment(Timestamped, Base):
    """A dataset version x variant versions x repeats, run as one comparison per (item, sample).

    status: queued -> running -> scoring (-> judging, with a judge) -> succeeded; cancelled (on request;
    finished outputs kept); failed."""

    __tablename__ = "experiments"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"), index=True)
    repeats: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    # Ask the models again even where a cached answer exists.
    refresh: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    judge_endpoint_id: Mapped[int | None] = mapped_column(ForeignKey("endpoints.id"))
    created_by: Mapped[str] = mapped_column(String(120), default="")
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    dataset_version: Mapped[DatasetVersion] = relationship()
    variants: Mapped[list[ExperimentVariant]] = relationship(
        order_by="ExperimentVariant.position", cascade="all, delete-orphan", lazy="selectin"
    )


class ExperimentVariant(Base):
    __tablename__ = "experiment_variants"

    experiment_id: Mapped[int] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), primary_key=True
    )
    variant_version_id: Mapped[int] = mapped_column(ForeignKey("variant_versions.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)


class OutputMetric(Base):
    """One automatic metric of one output; `value` is None only with a `reason` saying why."""

    __tablename__ = "output_metrics"

    output_id: Mapped[int] = mapped_column(ForeignKey("outputs.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[float | None] = mapped_column(Float)
    reason: Mapped[str] = mapped_column(Text, default="")


class JudgeVerdict(Timestamped, Base):
    """An LLM judge on one pair of outputs, asked in both orders; only a verdict given both ways counts.

    outcome: +1 output_a better, -1 output_b better, 0 tie (or inconsistent, then consistent is False)."""

    __tablename__ = "judge_verdicts"
    __table_args__ = (UniqueConstraint("comparison_id", "output_a_id", "output_b_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    experiment_id: Mapped[int] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"), index=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"), index=True)
    output_a_id: Mapped[int] = mapped_column(ForeignKey("outputs.id", ondelete="CASCADE"))
    output_b_id: Mapped[int] = mapped_column(ForeignKey("outputs.id", ondelete="CASCADE"))
    first_verdict: Mapped[str | None] = mapped_column(String(10))
    swapped_verdict: Mapped[str | None] = mapped_column(String(10))
    outcome: Mapped[int] = mapped_column(Integer, default=0)
    consistent: Mapped[bool] = mapped_column(Boolean, default=False)
    # What the judge said, for anyone checking it (first order, then swapped); or why it could not judge.
    first_text: Mapped[str] = mapped_column(Text, default="")
    swapped_text: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text)
