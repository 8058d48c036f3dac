"""Who may read what: the blind rule, in one place.

Raters are the blind role. A rater may read which variant wrote which answer of a comparison, the other
ratings of it, and anything derived from them (corrections, rankings, metrics, verdicts, training rows,
evaluation datasets made from corrections) only for the comparisons they have *revealed*: rated, or asked
themselves (they watched the answers arrive). Admins and viewers read everything.

Repositories scope their statements with `readable(column, principal)` (polar's readable-statement idea:
the filter is part of the statement a service asks for, never something a route remembers to add);
in-memory checks of one comparison use `blind_to`. Rows without a comparison behind them (an example set's
pairs, a dataset's own items) are readable by everyone who may read their parent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, or_, select, true

from app.core.auth import Principal
from app.models import Comparison, Rating


def is_blind(principal: Principal) -> bool:
    """Whether this principal's reads are scoped to the comparisons they revealed."""
    return principal.role == "rater"


def blind_to(principal: Principal, *, created_by: str, has_rated: bool) -> bool:
    """Whether `principal` must not yet see which variant wrote what in one comparison, nor its ratings."""
    return is_blind(principal) and created_by != principal.name and not has_rated


def reveals(comparison: Comparison, principal: Principal) -> bool:
    """Whether `principal` may see which variant wrote what in a loaded comparison (its ratings loaded)."""
    rated = any(r.rater == principal.name for r in comparison.ratings)
    return not blind_to(principal, created_by=comparison.created_by, has_rated=rated)


def revealed_comparisons(principal: Principal) -> Select[int]:
    """The ids of the comparisons a rater has rated or asked."""
    rated = select(Rating.comparison_id).where(Rating.rater == principal.name)
    asked = select(Comparison.id).where(Comparison.created_by == principal.name)
    return select(Comparison.id).where(or_(Comparison.id.in_(rated), Comparison.id.in_(asked)))


def readable(comparison_id: Any, principal: Principal, *, without_comparison: bool = True) -> ColumnElement[bool]:
    """The condition a statement adds so `principal` reads only rows whose comparison (`comparison_id`, a
    column) they revealed. Rows with no comparison behind them stay readable unless `without_comparison`
    is false."""
    if not is_blind(principal):
        return true()
    condition = comparison_id.in_(revealed_comparisons(principal))
    return or_(comparison_id.is_(None), condition) if without_comparison else condition
