"""Comparisons, their outputs, and what raters said about them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, Timestamped

if TYPE_CHECKING:
    from app.models.catalog import VariantVersion


class ComparisonSession(Timestamped, Base):
    """A conversation with several variants at once: each turn is a comparison of these variant versions, and
    each variant's prompt carries its own earlier turns (app/comparisons/multiturn.py)."""

    __tablename__ = "comparison_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    # Fixed when the session starts: editing a variant never changes a conversation half way.
    variant_version_ids: Mapped[list[Any]] = mapped_column(default=list)
    turns: Mapped[list[Comparison]] = relationship(order_by="Comparison.turn", viewonly=True)


class Comparison(Timestamped, Base):
    __tablename__ = "comparisons"
    __table_args__ = (
        UniqueConstraint("experiment_id", "dataset_item_id", "sample"),
        UniqueConstraint("session_id", "turn"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    query: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(120), default="")
    # Where the question came from (a question set, an experiment); the leaderboard filters on it.
    dataset: Mapped[str] = mapped_column(String(120), default="", index=True)
    # Set when the comparison is one (item, sample) of an experiment: at most one comparison per pair.
    experiment_id: Mapped[int | None] = mapped_column(
        ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    dataset_item_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_items.id"), index=True)
    sample: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Set when the comparison is a turn (1, 2, ...) of a comparison session.
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("comparison_sessions.id", ondelete="CASCADE"), index=True
    )
    turn: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # In the order given (a collation-dependent order would differ between the databases and from Python's).
    tags: Mapped[list[ComparisonTag]] = relationship(
        cascade="all, delete-orphan", order_by="ComparisonTag.id", lazy="selectin"
    )
    outputs: Mapped[list[Output]] = relationship(
        back_populates="comparison", order_by="Output.position", cascade="all, delete-orphan"
    )
    ratings: Mapped[list[Rating]] = relationship(back_populates="comparison", cascade="all, delete-orphan")


class ComparisonTag(Base):
    __tablename__ = "comparison_tags"
    __table_args__ = (UniqueConstraint("comparison_id", "tag"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(60), index=True)


class Output(Timestamped, Base):
    """One variant's answer with its evidence. status: pending -> done | error | stopped (someone pressed Stop:
    the text is what was written until then)."""

    __tablename__ = "outputs"
    # Exactly one output per variant version in a comparison (and so per item, variant and sample).
    __table_args__ = (UniqueConstraint("comparison_id", "variant_version_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"), index=True)
    variant_version_id: Mapped[int] = mapped_column(ForeignKey("variant_versions.id"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(20), default="pending")
    text: Mapped[str] = mapped_column(Text, default="")
    # The answer went past the configured cap (TRIPTYCH_MAX_ANSWER_KB) and was cut there.
    truncated: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    error: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(200), default="")
    # The model's own time: waiting for a turn (behind other requests to the same model) is in wait_ms.
    latency_ms: Mapped[float | None] = mapped_column(Float)
    ttft_ms: Mapped[float | None] = mapped_column(Float)
    wait_ms: Mapped[float | None] = mapped_column(Float)
    # Experiments: the response-cache key, and the output this one's answer was copied from (a cache hit).
    cache_key: Mapped[str | None] = mapped_column(String(64), index=True)
    cached_from_id: Mapped[int | None] = mapped_column(ForeignKey("outputs.id", ondelete="SET NULL"), index=True)
    prompt_tokens: Mapped[int | None] = mapped_column(Integer)
    completion_tokens: Mapped[int | None] = mapped_column(Integer)
    cost_usd: Mapped[float | None] = mapped_column(Float)
    # [{source, text, score, chunk_id, position}] as retrieved, and the exact messages sent.
    contexts: Mapped[list[Any]] = mapped_column(default=list)
    prompt: Mapped[list[Any]] = mapped_column(default=list)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Until when the process running this (standalone) output vouches for it; it renews the lease while the
    # model answers. Only a pending output whose lease has lapsed belongs to a process that is gone.
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Someone asked to stop this running answer; the process answering it reads this (it may be another one).
    stop_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comparison: Mapped[Comparison] = relationship(back_populates="outputs")
    variant_version: Mapped[VariantVersion] = relationship()


class Rating(Timestamped, Base):
    """One rater's verdict on one comparison (editable; never two per rater)."""

    __tablename__ = "ratings"
    __table_args__ = (
        UniqueConstraint("comparison_id", "rater"),
        # Covers the leaderboard's count of ratings per ranking pattern: no table rows are read.
        Index(
            "ix_ratings_board", "variant_ranks", "first_shown_best", "ranked_shown", "rater", "comparison_id"
        ),
        # Covers the leaderboard's rankings per comparison (its bootstrap draws comparisons).
        Index("ix_ratings_comparison_ranks", "comparison_id", "variant_ranks"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"), index=True)
    rater: Mapped[str] = mapped_column(String(120))
    comment: Mapped[str] = mapped_column(Text, default="")
    # Output ids in the order the rater saw them (position bias is measured from this).
    display_order: Mapped[list[Any]] = mapped_column(default=list)
    # {output id (as text): rank}, 1 = best; equal ranks are ties. Empty on ratings from before rankings.
    ranking: Mapped[dict[str, Any]] = mapped_column(default=dict)
    corrected_answer: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # The leaderboard's digest of this rating, written with it (app.stats.rating_digest): the ranking over
    # variants as "variant:rank,...", and whether the answer shown first was the unique best.
    variant_ranks: Mapped[str] = mapped_column(String(400), default="")
    first_shown_best: Mapped[bool | None] = mapped_column()
    ranked_shown: Mapped[int] = mapped_column(Integer, default=0)
    comparison: Mapped[Comparison] = relationship(back_populates="ratings")
    scores: Mapped[list[RatingScore]] = relationship(back_populates="rating", cascade="all, delete-orphan")


class RatingScore(Base):
    __tablename__ = "rating_scores"
    __table_args__ = (UniqueConstraint("rating_id", "output_id", "dimension"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(ForeignKey("ratings.id", ondelete="CASCADE"), index=True)
    output_id: Mapped[int] = mapped_column(ForeignKey("outputs.id", ondelete="CASCADE"), index=True)
    dimension: Mapped[str] = mapped_column(String(40), default="overall")
    score: Mapped[int] = mapped_column(Integer)
    rating: Mapped[Rating] = relationship(back_populates="scores")


# The tally columns: how many raters gave an output 1, 2, 3, 4 and 5 on one dimension.
SCORE_COLUMNS = ("n1", "n2", "n3", "n4", "n5")


class ScoreTally(Base):
    """How many raters gave each score (1-5) to one output on one rubric dimension, kept in step with the
    ratings as they are written, so the leaderboard groups tallies (means and Krippendorff's alpha both follow
    from them) instead of every score."""

    __tablename__ = "score_tallies"
    __table_args__ = (
        # Covers the leaderboard's group-by: no table rows are read, and no sort is needed.
        Index(
            "ix_score_tallies_board",
            "variant_id",
            "dimension",
            "n1",
            "n2",
            "n3",
            "n4",
            "n5",
            "comparison_id",
        ),
    )

    output_id: Mapped[int] = mapped_column(ForeignKey("outputs.id", ondelete="CASCADE"), primary_key=True)
    dimension: Mapped[str] = mapped_column(String(40), primary_key=True)
    comparison_id: Mapped[int] = mapped_column(ForeignKey("comparisons.id", ondelete="CASCADE"))
    # The output's variant (outputs never change variant), copied here so the group-by needs no join.
    variant_id: Mapped[int] = mapped_column(Integer)
    n1: Mapped[int] = mapped_column(Integer, default=0)
    n2: Mapped[int] = mapped_column(Integer, default=0)
    n3: Mapped[int] = mapped_column(Integer, default=0)
    n4: Mapped[int] = mapped_column(Integer, default=0)
    n5: Mapped[int] = mapped_column(Integer, default=0)


class ChunkJudgement(Timestamped, Base):
    """A rater's mark on one retrieved chunk of one output: relevant to the query or not."""

    __tablename__ = "chunk_judgements"
    __table_args__ = (UniqueConstraint("output_id", "rank", "rater"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    output_id: Mapped[int] = mapped_column(ForeignKey("outputs.id", ondelete="CASCADE"), index=True)
    # 1-based position of the chunk in the output's retrieved contexts.
    rank: Mapped[int] = mapped_column(Integer)
    rater: Mapped[str] = mapped_column(String(120))
    relevant: Mapped[bool] = mapped_column()
