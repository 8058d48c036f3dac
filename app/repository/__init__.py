"""All SQL lives in this package: one repository per aggregate, each bound to a session."""

from app.repository.accounts import UserRepository
from app.repository.catalog import EndpointRepository, ExampleSetRepository
from app.repository.comparisons import ComparisonRepository
from app.repository.knowledge import KnowledgeRepository
from app.repository.tokens import TokenRepository
from app.repository.variants import VariantRepository

__all__ = [
    "ComparisonRepository",
    "EndpointRepository",
    "ExampleSetRepository",
    "KnowledgeRepository",
    "TokenRepository",
    "UserRepository",
    "VariantRepository",
]
