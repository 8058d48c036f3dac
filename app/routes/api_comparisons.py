"""REST: comparisons (the fan-out), blind rating, the rubric and the leaderboard."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from app.accounts.auth import ApiAdmin, ApiRater, ApiUser
from app.comparisons.schemas import ComparisonIn, ComparisonOut, ComparisonSummary
from app.core.api_errors import API_ERRORS, errors
from app.core.errors import Forbidden
from app.core.types import Id, IsoDateTime, Offset
from app.deps import LeaderboardDep, RatingsDep, ReaderDep, RubricDep, RunnerDep
from app.leaderboard.schemas import LeaderboardOut
from app.presenters import blind_out, comparison_out, comparison_summary, leaderboard_out, rating_out
from app.rating.schemas import BlindComparisonOut, DimensionIn, DimensionOut, RatingIn, RatingOut
from app.services.leaderboard import Filters
from app.services.rubric import Dimension

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


@router.post("/comparisons", response_model=ComparisonOut, status_code=status.HTTP_201_CREATED)
async def create_comparison(
    body: ComparisonIn, user: ApiRater, runner: RunnerDep, reader: ReaderDep
) -> ComparisonOut:
    """Ask every selected variant (default: all active) and return when all have answered or failed."""
    comparison_id = await runner.create(
        body.query, body.variant_ids, created_by=user.name, dataset=body.dataset, tags=body.tags
    )
    await runner.run_to_completion(comparison_id)
    return comparison_out(await reader.get(comparison_id))


@router.get("/comparisons", response_model=list[ComparisonSummary])
async def list_comparisons(
    user: ApiUser,
    reader: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> list[ComparisonSummary]:
    comparisons, _total = await reader.page(limit=limit, offset=offset)
    return [comparison_summary(c, user) for c in comparisons]


@router.get("/comparisons/{comparison_id}", response_model=ComparisonOut)
async def get_comparison(
    comparison_id: Id, user: ApiUser, reader: ReaderDep, ratings: RatingsDep
) -> ComparisonOut:
    """Everything about a comparison. A rater who has not rated it gets 403: rate it blind first."""
    comparison = await reader.get(comparison_id)
    if not ratings.sees_identities(comparison, user):
        raise Forbidden(
            f"rate this comparison blind first: GET /api/v1/comparisons/{comparison_id}/blind, then POST a rating"
        )
    return comparison_out(comparison)


@router.get("/comparisons/{comparison_id}/blind", response_model=BlindComparisonOut, responses=errors(409))
async def blind_comparison(comparison_id: Id, user: ApiRater, ratings: RatingsDep) -> BlindComparisonOut:
    """The answers under neutral labels, in this caller's own shuffled order, with the rubric to score on."""
    return blind_out(await ratings.blind_view(comparison_id, user.name))


@router.post(
    "/comparisons/{comparison_id}/ratings",
    response_model=RatingOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(409),
)
async def rate_comparison(
    comparison_id: Id, body: RatingIn, user: ApiRater, ratings: RatingsDep, response: Response
) -> RatingOut:
    """One rating per caller per comparison; posting again edits it (200 instead of 201). The answer reveals
    the variants."""
    comparison, rating = await ratings.submit(comparison_id, user.name, body)
    if rating.updated_at is not None:
        response.status_code = status.HTTP_200_OK
    return rating_out(rating, comparison)


@router.get("/comparisons/{comparison_id}/ratings/mine", response_model=RatingOut)
async def my_rating(comparison_id: Id, user: ApiRater, ratings: RatingsDep) -> RatingOut:
    comparison, rating = await ratings.mine(comparison_id, user.name)
    return rating_out(rating, comparison)


@router.get("/rubric", response_model=list[DimensionOut])
async def get_rubric(_user: ApiUser, rubric: RubricDep) -> list[DimensionOut]:
    return [
        DimensionOut(key=d.key, label=d.label, description=d.description) for d in await rubric.dimensions()
    ]


@router.put("/rubric", response_model=list[DimensionOut])
async def put_rubric(body: list[DimensionIn], _user: ApiAdmin, rubric: RubricDep) -> list[DimensionOut]:
    """Replace the rubric. Existing ratings keep their scores; new ratings must score the new dimensions."""
    saved = await rubric.replace([Dimension(d.key, d.label, d.description) for d in body])
    return [DimensionOut(key=d.key, label=d.label, description=d.description) for d in saved]


@router.get("/leaderboard", response_model=LeaderboardOut)
async def leaderboard(
    user: ApiUser,
    board: LeaderboardDep,
    since: Annotated[IsoDateTime | None, Query(description="only comparisons created at or after")] = None,
    until: Annotated[IsoDateTime | None, Query(description="only comparisons created before")] = None,
    dataset: Annotated[
        str | None, Query(max_length=120, description="only comparisons from this dataset")
    ] = None,
    tag: Annotated[str | None, Query(max_length=60, description="only comparisons with this tag")] = None,
) -> LeaderboardOut:
    """Per variant: mean scores with 95% intervals, Bradley-Terry strength with bootstrap intervals, P(best);
    the win-rate matrix, inter-rater agreement, position bias and retrieval metrics. A rater's board counts
    only the comparisons that rater has rated (they rate blind)."""
    filters = Filters(since=since, until=until, dataset=dataset or None, tag=tag or None)
    return leaderboard_out(await board.compute(filters.seen_by(user)))
