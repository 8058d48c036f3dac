"""REST: the leaderboard and the retrieval metrics."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Query

from app.accounts.auth import ApiUser
from app.core.api_errors import API_ERRORS
from app.core.filters import Filters
from app.core.types import IsoDateTime
from app.leaderboard.deps import LeaderboardDep
from app.leaderboard.presenters import leaderboard_out
from app.leaderboard.schemas import LeaderboardOut, RetrievalMetricsOut

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


@router.get("/leaderboard", response_model=LeaderboardOut)
async def leaderboard(
    _user: ApiUser,
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
    return leaderboard_out(await board.compute(filters))


@router.get("/retrieval-metrics", response_model=list[RetrievalMetricsOut])
async def retrieval_metrics(_user: ApiUser, board: LeaderboardDep) -> list[RetrievalMetricsOut]:
    """Precision@k and MRR per RAG variant, from raters' relevance marks (majority vote per chunk); a rater's
    figures count only the comparisons they have rated."""
    return [RetrievalMetricsOut(**asdict(m)) for m in await board.retrieval()]
