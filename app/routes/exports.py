"""Downloads of ratings: the same four exports over REST (bearer token) and from the leaderboard page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.accounts.auth import ApiUnblinded, UiUser
from app.core.api_errors import API_ERRORS
from app.core.deps import SessionDep
from app.core.errors import Forbidden, Invalid
from app.core.types import IsoDateTime
from app.repository.rating_exports import ratings_for_export
from app.services.leaderboard import Filters
from app.services.rating_exports import chat_jsonl, dpo_jsonl, ratings_csv, ratings_jsonl

Kind = Literal["ratings.csv", "ratings.jsonl", "dpo.jsonl", "chat.jsonl"]
MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}

api_router = APIRouter(prefix="/api/v1", responses=API_ERRORS)
ui_router = APIRouter()


async def _export(session: SessionDep, kind: Kind, filters: Filters, min_score: float) -> Response:
    ratings = await ratings_for_export(session, filters)
    if kind == "ratings.csv":
        body = ratings_csv(ratings)
    elif kind == "ratings.jsonl":
        body = ratings_jsonl(ratings)
    elif kind == "dpo.jsonl":
        body = dpo_jsonl(ratings)
    else:
        body = chat_jsonl(ratings, min_score)
    headers = {"Content-Disposition": f'attachment; filename="triptych-{kind}"'}
    return Response(body, media_type=MEDIA[kind.rsplit(".", 1)[1]], headers=headers)


Since = Annotated[IsoDateTime | None, Query(description="only comparisons created at or after")]
Until = Annotated[IsoDateTime | None, Query(description="only comparisons created before")]
Dataset = Annotated[str | None, Query(max_length=120)]
Tag = Annotated[str | None, Query(max_length=60)]
MinScore = Annotated[float, Query(ge=1, le=5, description="chat.jsonl: the least mean score of a top answer")]


@api_router.get(
    "/exports/{kind}",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}, "description": "The download"}},
)
async def export(
    kind: Kind,
    _user: ApiUnblinded,
    session: SessionDep,
    since: Since = None,
    until: Until = None,
    dataset: Dataset = None,
    tag: Tag = None,
    min_score: MinScore = 4.0,
) -> Response:
    """ratings.csv / ratings.jsonl (every rating, outputs in the order shown), dpo.jsonl (`input`,
    `preferred_output`, `non_preferred_output`), chat.jsonl (corrected and top-rated answers as chat messages).
    Admins and viewers only: raters rate blind."""
    return await _export(session, kind, Filters(since, until, dataset or None, tag or None), min_score)


@ui_router.get("/exports/{kind}", name="export_page", response_class=Response)
async def export_download(
    kind: Kind,
    user: UiUser,
    session: SessionDep,
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    dataset: Dataset = None,
    tag: Tag = None,
    min_score: MinScore = 4.0,
) -> Response:
    """The leaderboard page's download links (dates as the page's filter form sends them)."""
    if user.role == "rater":
        raise Forbidden("raters see ratings only through blind rating: ask an admin or a viewer for exports")
    try:
        start = datetime.fromisoformat(since) if since else None
        end = datetime.fromisoformat(until) if until else None
    except ValueError:
        raise Invalid("since and until must be dates like 2026-11-01") from None
    return await _export(session, kind, Filters(start, end, dataset or None, tag or None), min_score)
