"""REST: an experiment's verdict and the paired comparison of two of its variants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.accounts.auth import ApiUser
from app.core.api_errors import API_ERRORS
from app.core.types import Id
from app.verdict.deps import VerdictDep
from app.verdict.evidence import PairedComparison, Verdict

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


@router.get("/experiments/{experiment_id}/verdict", response_model=Verdict)
async def experiment_verdict(experiment_id: Id, _user: ApiUser, verdicts: VerdictDep) -> Verdict:
    """Per variant: metrics over items with 95% bootstrap intervals, human scores and Bradley-Terry strength
    (1,000 resamples), judge win rate, format compliance, general-probe regressions, p50/p95 latency, cost per
    1,000 queries; the judge's agreement with the raters; and a recommendation in plain words. A rater's
    verdict counts only the comparisons that rater has rated."""
    return await verdicts.verdict(experiment_id)


@router.get("/experiments/{experiment_id}/compare", response_model=PairedComparison)
async def experiment_compare(
    experiment_id: Id,
    _user: ApiUser,
    verdicts: VerdictDep,
    a: Annotated[Id, Query(description="variant id")],
    b: Annotated[Id, Query(description="variant id")],
) -> PairedComparison:
    """A against B item by item: wins, ties and losses by human rating, judge and each metric, the mean
    difference with a 95% bootstrap interval over items, a sign-test p-value, and the items that flipped."""
    return await verdicts.compare(experiment_id, a, b)
