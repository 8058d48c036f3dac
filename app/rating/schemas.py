"""Request and response bodies for blind rating, the rubric, chunk marks and review queues."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.core.types import Id, Strict, UtcDateTime

Label = Annotated[str, StringConstraints(pattern=r"^[A-L]$")]


Score = Annotated[int, Field(ge=1, le=5)]


DimensionKey = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]


class DimensionOut(BaseModel):
    key: str
    label: str
    description: str


class DimensionIn(Strict):
    key: DimensionKey
    label: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
    description: Annotated[str, Field(max_length=500)] = ""


class BlindOutputOut(BaseModel):
    """What a rater sees of an answer before rating: a neutral label and the text, nothing else."""

    label: str
    text: str


class BlindComparisonOut(BaseModel):
    comparison_id: int
    query: str
    rubric: list[DimensionOut]
    outputs: list[BlindOutputOut]
    # True once this caller has rated; GET .../ratings/mine then reveals the identities.
    rated: bool


class RatingIn(Strict):
    """Scores per label per rubric dimension, a ranking (1 = best, equal numbers tie), comment, correction.

    Without `ranking`, the ranking follows each answer's mean score."""

    scores: Annotated[dict[Label, dict[DimensionKey, Score]], Field(min_length=1, max_length=12)]
    ranking: Annotated[dict[Label, Annotated[int, Field(ge=1, le=12)]] | None, Field(max_length=12)] = None
    comment: Annotated[str, Field(max_length=5000)] = ""
    corrected_answer: Annotated[str, Field(max_length=8000)] = ""


class RevealedOutputOut(BaseModel):
    """After submitting: which variant was behind each label, with this rater's scores and rank. For a turn of
    a comparison session whose other turns the rater has yet to rate, who wrote what (output_id, variant_id,
    variant, strategy) is null until they have: see RatingOut.withheld."""

    label: str
    output_id: int | None
    variant_id: int | None
    variant: str | None
    strategy: str | None
    rank: int | None
    scores: dict[str, int]


class RatingOut(BaseModel):
    id: int
    comparison_id: int
    rater: str
    comment: str
    corrected_answer: str = ""
    created_at: UtcDateTime
    updated_at: UtcDateTime | None = None
    outputs: list[RevealedOutputOut]
    # Why who wrote what is not shown yet (a session's turns are revealed together), else null.
    withheld: str | None = None


class QueueIn(Strict):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
    raters_per_item: Annotated[int, Field(ge=1, le=50)] = 3
    # Either explicit comparisons, or every comparison matching dataset/tag (at most 5,000).
    comparison_ids: Annotated[list[Id], Field(max_length=5000)] = []
    dataset: Annotated[str, Field(max_length=120)] = ""
    tag: Annotated[str, Field(max_length=60)] = ""
    # Every comparison (item x sample) of one experiment.
    experiment_id: Id | None = None
    # Show a rater each answer only once all are in (how fast an answer streams can give its variant away).
    reveal_together: bool = True


class RaterProgressOut(BaseModel):
    rater: str
    rated: int


class QueueOut(BaseModel):
    id: int
    name: str
    raters_per_item: int
    reveal_together: bool = True
    items: int
    # Items with at least raters_per_item ratings.
    complete: int
    # The caller's own count and what is left for them.
    mine: int
    left_for_me: int
    raters: list[RaterProgressOut]
    created_at: UtcDateTime


class NextItemOut(BaseModel):
    comparison_id: int | None
    left_for_me: int


class JudgementIn(Strict):
    relevant: bool
