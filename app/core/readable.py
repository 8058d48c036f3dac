"""Who may read what: the blind rule, in one place.

Raters are the blind role. A rater may read which variant wrote which answer of a comparison, the other
ratings of it, and anything derived from them (corrections, rankings, metrics, verdicts, training rows,
evaluation datasets made from corrections) only for the comparisons they have *revealed*: rated, or asked
themselves (they watched the answers arrive). Admins and viewers read everything.

The turns of a comparison session are revealed together, once the rater has rated every turn that has an
answer to rate: each variant continues its own conversation, so naming the variants of one turn would name
them in the others.

Repositories scope their statements with `readable(column, principal)` (polar's readable-statement idea:
the filter is part of the statement a service asks for, never something a route remembers to add);
in-memory checks of one comparison use `blind_to`. Rows without a comparison behind them (an example set's
pairs, a dataset's own items) are readable by everyone who may read their parent.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, true
from sqlalchemy.orm import aliased

from app.core.auth import Principal
from app.models import Comparison, Output, Rating


def is_blind(principal: Principal) -> bool:
    """Whether this principal's reads are scoped to the comparisons they revealed."""
    return principal.role == "rater"


def blind_to(principal: Principal, *, created_by: str, has_rated: bool) -> bool:
    """Whether `principal` must not yet see which variant wrote what in one comparison, nor its ratings."""
    return is_blind(principal) and created_by != principal.name and not has_rated


def reveals(comparison: Comparison, principal: Principal, *, unrated_turns: int = 0) -> bool:
    """Whether `principal` may see which variant wrote what in a loaded comparison (its ratings loaded); for a
    session's turn, `unrated_turns` is how many of its session's turns they have yet to rate."""
    rated = any(r.rater == principal.name for r in comparison.ratings) and not unrated_turns
    return not blind_to(principal, created_by=comparison.created_by, has_rated=rated)


def _rateable_unrated(turn: Any, rater: str) -> ColumnElement[bool]:
    """A condition on `turn` (Comparison or an alias): it has an answer to rate and `rater` has not rated it."""
    rated = select(Rating.comparison_id).where(Rating.rater == rater)
    rateable = select(Output.comparison_id).where(Output.status == "done")
    return and_(turn.id.in_(rateable), turn.id.not_in(rated))


def unrated_turns(session_id: int, rater: str) -> Select[int]:
    """How many turns of a comparison session `rater` has yet to rate (turns without an answer do not count)."""
    return select(func.count(Comparison.id)).where(
        Comparison.session_id == session_id, _rateable_unrated(Comparison, rater)
    )


# Another name for the table, built once: the subquery must not correlate with the statement it sits in.
_TURN = aliased(Comparison)


def revealed_comparisons(principal: Principal) -> Select[int]:
    """The ids of the comparisons a rater has asked, or rated (and, for a session's turn, every turn of it)."""
    rated = select(Rating.comparison_id).where(Rating.rater == principal.name)
    asked = select(Comparison.id).where(Comparison.created_by == principal.name)
    open_sessions = select(_TURN.session_id).where(
        _TURN.session_id.is_not(None), _rateable_unrated(_TURN, principal.name)
    )
    whole = or_(Comparison.session_id.is_(None), Comparison.session_id.not_in(open_sessions))
    return select(Comparison.id).where(or_(and_(Comparison.id.in_(rated), whole), Comparison.id.in_(asked)))


def readable(comparison_id: Any, principal: Principal, *, without_comparison: bool = True) -> ColumnElement[bool]:
    """The condition a statement adds so `principal` reads only rows whose comparison (`comparison_id`, a
    column) they revealed. Rows with no comparison behind them stay readable unless `without_comparison`
    is false."""
    if not is_blind(principal):
        return true()
    condition = comparison_id.in_(revealed_comparisons(principal))
    return or_(comparison_id.is_(None), condition) if without_comparison else condition
