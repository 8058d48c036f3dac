"""REST: comparisons (the fan-out) and their history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.accounts.auth import ApiRater, ApiUser
from app.comparisons.deps import ReaderDep, RunnerDep
from app.comparisons.presenters import comparison_out, comparison_summary
from app.comparisons.schemas import ComparisonIn, ComparisonOut, ComparisonSummary
from app.core.api_errors import API_ERRORS
from app.core.types import Id, Offset

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


@router.post("/comparisons", response_model=ComparisonOut, status_code=status.HTTP_201_CREATED)
async def create_comparison(body: ComparisonIn, user: ApiRater, runner: RunnerDep) -> ComparisonOut:
    """Ask every selected variant (default: all active) and return when all have answered or failed (the
    asker reads their own comparison whatever their role)."""
    new = await runner.create(
        body.query, body.variant_ids, created_by=user.name, dataset=body.dataset, tags=body.tags
    )
    return comparison_out(await runner.run_to_completion(new))


@router.get("/comparisons", response_model=list[ComparisonSummary])
async def list_comparisons(
    _user: ApiUser,
    reader: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> list[ComparisonSummary]:
    comparisons, _total = await reader.page(limit=limit, offset=offset)
    return [comparison_summary(c, reader.revealed(c)) for c in comparisons]


@router.get("/comparisons/{comparison_id}", response_model=ComparisonOut)
async def get_comparison(comparison_id: Id, _user: ApiUser, reader: ReaderDep) -> ComparisonOut:
    """Everything about a comparison. A rater who has not rated it gets 403: rate it blind first."""
    return comparison_out(await reader.get(comparison_id))
