"""SQLAlchemy 2 models: the whole domain schema (migrations in migrations/versions)."""

from app.models.base import ENDPOINT_KINDS, STRATEGIES, Base, Timestamped, utcnow
from app.models.catalog import (
    Chunk,
    Document,
    Endpoint,
    Example,
    ExampleSet,
    IngestJob,
    KnowledgeBase,
    Variant,
    VariantVersion,
)
from app.models.comparisons import (
    ChunkJudgement,
    Comparison,
    ComparisonTag,
    Output,
    Rating,
    RatingScore,
    ScoreTally,
)
from app.models.team import ROLES, ApiToken, ReviewQueue, ReviewQueueItem, RubricDimension, User, UserSession

__all__ = [
    "ENDPOINT_KINDS",
    "ROLES",
    "STRATEGIES",
    "ApiToken",
    "Base",
    "Chunk",
    "ChunkJudgement",
    "Comparison",
    "ComparisonTag",
    "Document",
    "Endpoint",
    "Example",
    "ExampleSet",
    "IngestJob",
    "KnowledgeBase",
    "Output",
    "Rating",
    "RatingScore",
    "ReviewQueue",
    "ReviewQueueItem",
    "RubricDimension",
    "ScoreTally",
    "Timestamped",
    "User",
    "UserSession",
    "Variant",
    "VariantVersion",
    "utcnow",
]
