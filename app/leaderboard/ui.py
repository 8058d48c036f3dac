"""The leaderboard page, with intervals drawn as server-side SVG."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.accounts.auth import UiUser
from app.comparisons.deps import ReaderDep
from app.core.errors import Invalid
from app.core.filters import Filters
from app.core.web import render
from app.leaderboard.deps import LeaderboardDep
from app.leaderboard.presenters import leaderboard_out

router = APIRouter()


@router.get("/leaderboard", name="leaderboard_page", response_class=HTMLResponse)
async def leaderboard_page(
    request: Request,
    _user: UiUser,
    board: LeaderboardDep,
    reader: ReaderDep,
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    dataset: Annotated[str, Query(max_length=120)] = "",
    tag: Annotated[str, Query(max_length=60)] = "",
) -> HTMLResponse:
    """The verdict so far, with intervals drawn as server-side SVG."""
    try:
        start = datetime.fromisoformat(since) if since else None
        end = datetime.fromisoformat(until) if until else None
    except ValueError:
        raise Invalid("since and until must be dates like 2026-11-01") from None
    filters = Filters(since=start, until=end, dataset=dataset or None, tag=tag or None)
    result = leaderboard_out(await board.compute(filters))
    query = {k: v for k, v in {"since": since, "until": until, "dataset": dataset, "tag": tag}.items() if v}
    context = {
        "board": result,
        "filters": query,
        "datasets": await reader.datasets(),
        "tags": await reader.tags(),
    }
    return render(request, "pages/leaderboard.html", context)
