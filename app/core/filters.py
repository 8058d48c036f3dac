"""Which comparisons a figure counts: the leaderboard's filters, shared by the board, metrics and exports."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from sqlalchemy import select

from app.core.auth import Principal
from app.core.readable import is_blind, readable
from app.models import Comparison, ComparisonTag


@dataclass(frozen=True)
class Filters:
    """Which comparisons count: created in [since, until), from a dataset, carrying a tag, readable by a
    blind reader (None: everyone's)."""

    since: datetime | None = None
    until: datetime | None = None
    dataset: str | None = None
    tag: str | None = None
    blind_reader: Principal | None = None

    def seen_by(self, principal: Principal) -> Filters:
        """Raters are blind: their figures count only the comparisons they revealed (app/core/readable.py),
        so no aggregate tells them anything about a comparison still waiting for their rating. Services
        call this with the reader they were built for; routes never do."""
        return replace(self, blind_reader=principal if is_blind(principal) else None)


def filtered(stmt: Any, filters: Any) -> Any:
    """Apply leaderboard filters (since, until, dataset, tag, blind reader) to a statement joined to Comparison."""
    if filters.since is not None:
        stmt = stmt.where(Comparison.created_at >= filters.since)
    if filters.until is not None:
        stmt = stmt.where(Comparison.created_at < filters.until)
    if filters.dataset is not None:
        stmt = stmt.where(Comparison.dataset == filters.dataset)
    if filters.tag is not None:
        tagged = select(ComparisonTag.comparison_id).where(ComparisonTag.tag == filters.tag)
        stmt = stmt.where(Comparison.id.in_(tagged))
    if getattr(filters, "blind_reader", None) is not None:
        stmt = stmt.where(readable(Comparison.id, filters.blind_reader, without_comparison=False))
    return stmt
