"""REST: comparisons (the fan-out) and ratings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from app.deps import ApiUser, LeaderboardDep, RatingsDep, ReaderDep, RunnerDep
from app.presenters import comparison_out, comparison_summary, leaderboard_out, rating_out
from app.schemas import (
    ComparisonIn,
    ComparisonOut,
    ComparisonSummary,
    LeaderboardOut,
    RatingIn,
    RatingOut,
)

router = APIRouter(prefix="/api/v1")


@router.post("/comparisons", response_model=ComparisonOut, status_code=status.HTTP_201_CREATED)
async def create_comparison(
    body: ComparisonIn, user: ApiUser, runner: RunnerDep, reader: ReaderDep
) -> ComparisonOut:
    """Ask every selected variant (default: all active) and return when all have answered or failed."""
    comparison_id = await runner.create(body.query, body.variant_ids, created_by=user.name)
    await runner.run_to_completion(comparison_id)
    return comparison_out(await reader.get(comparison_id))


@router.get("/comparisons", response_model=list[ComparisonSummary])
async def list_comparisons(
    _user: ApiUser,
    reader: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> list[ComparisonSummary]:
    comparisons, _total = await reader.page(limit=limit, offset=offset)
    return [comparison_summary(c) for c in comparisons]


@router.get("/comparisons/{comparison_id}", response_model=ComparisonOut)
async def get_comparison(comparison_id: int, _user: ApiUser, reader: ReaderDep) -> ComparisonOut:
    return comparison_out(await reader.get(comparison_id))


@router.post(
    "/comparisons/{comparison_id}/ratings", response_model=RatingOut, status_code=status.HTTP_201_CREATED
)
async def rate_comparison(
    comparison_id: int, body: RatingIn, user: ApiUser, ratings: RatingsDep
) -> RatingOut:
    """One rating per caller per comparison; posting again replaces the caller's earlier rating."""
    return rating_out(await ratings.submit(comparison_id, user.name, body))


@router.get("/leaderboard", response_model=LeaderboardOut)
async def leaderboard(
    _user: ApiUser,
    board: LeaderboardDep,
    since: Annotated[datetime | None, Query(description="only comparisons created at or after")] = None,
    until: Annotated[datetime | None, Query(description="only comparisons created before")] = None,
) -> LeaderboardOut:
    """Per variant: mean scores with 95% intervals, Bradley-Terry strength with bootstrap intervals, P(best);
    the win-rate matrix, inter-rater agreement, position bias and retrieval metrics."""
    return leaderboard_out(await board.compute(since=since, until=until))
