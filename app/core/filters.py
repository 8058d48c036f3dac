"""Which comparisons a figure counts: the leaderboard's filters, shared by the board, metrics and exports."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.core.auth import Principal
from app.models import (
    Comparison,
    ComparisonTag,
    Rating,
)


@dataclass(frozen=True)
class Filters:
    """Which comparisons count: created in [since, until), from a dataset, carrying a tag, rated by someone."""

    since: datetime | None = None
    until: datetime | None = None
    dataset: str | None = None
    tag: str | None = None
    rated_by: str | None = None

    def seen_by(self, principal: Principal) -> Filters:
        """Raters are blind: their figures count only the comparisons they have rated themselves, so no
        aggregate tells them anything about a comparison still waiting for their rating."""
        return replace(self, rated_by=principal.name) if principal.role == "rater" else self


def filtered(stmt: Any, filters: Any) -> Any:
    """Apply leaderboard filters (since, until, dataset, tag, rated by) to a statement joined to Comparison."""
    if filters.since is not None:
        stmt = stmt.where(Comparison.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Comparison.created_at < filters.until)
    if filters.dataset is not None:
        stmt = stmt.where(Comparison.dataset == filters.dataset)
    if filters.tag is not None:
        tagged = select(ComparisonTag.comparison_id).where(ComparisonTag.tag == filters.tag)
        stmt = stmt.where(Comparison.id.in_(tagged))
    if getattr(filters, "rated_by", None) is not None:
        rated = select(Rating.comparison_id).where(Rating.rater == filters.rated_by)
        stmt = stmt.where(Comparison.id.in_(rated))
    return stmt
