"""REST: comparisons (the fan-out), streamed or whole, their history, and stopping one."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, status
from fastapi.responses import Response

from app.accounts.auth import ApiRater, ApiUser
from app.comparisons.deps import FeedDep, ReaderDep, RunnerDep, TurnsDep
from app.comparisons.feed import ComparisonFeed, Cursor, TextAdded
from app.comparisons.presenters import (
    comparison_out,
    comparison_summary,
    output_out,
    session_out,
    session_summary,
)
from app.comparisons.reader import ComparisonReader
from app.comparisons.schemas import (
    ComparisonIn,
    ComparisonOut,
    ComparisonSummary,
    SessionIn,
    SessionOut,
    SessionSummary,
    TurnIn,
)
from app.comparisons.service import ComparisonRunner, NewComparison
from app.core.api_errors import API_ERRORS, errors
from app.core.deps import SessionsDep
from app.core.sse import KEEP_ALIVE, event_stream, sse_event
from app.core.types import Id, Offset
from app.models import Comparison

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)

# What the streamed answer looks like, for the OpenAPI page.
EVENT_STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Server-sent events: `comparison` (the comparison as it starts), then per output "
        "`delta` ({output_id, offset, text}) as the model writes and one of `done`, `stopped`, `error` "
        "(the output as stored), then `end`. Each event's id is a cursor: send it back as Last-Event-ID "
        "to GET /api/v1/comparisons/{id}/events to carry on where the stream broke off.",
        "content": {"text/event-stream": {}},
    }
}


async def _events(feed: ComparisonFeed, comparison: Comparison, cursor: Cursor) -> AsyncIterator[str]:
    ids = [output.id for output in comparison.outputs]
    start = comparison_out(comparison)
    for output in start.outputs:
        if output.status == "pending":
            output.text = ""  # it arrives as deltas
    yield sse_event("comparison", start.model_dump_json(), cursor.text(ids))
    async for event in feed.follow(comparison, cursor):
        if event is None:
            yield KEEP_ALIVE
        elif isinstance(event, TextAdded):
            data = {"output_id": event.output_id, "offset": event.offset, "text": event.text}
            yield sse_event("delta", _json(data), cursor.text(ids))
        else:
            stored = output_out(event.output)
            yield sse_event(stored.status, stored.model_dump_json(), cursor.text(ids))
    yield sse_event("end", _json({"comparison_id": comparison.id}), cursor.text(ids))


def _stream_run(runner: ComparisonRunner, feed: ComparisonFeed, new: NewComparison) -> Response:
    """Start the run and answer with its events (201); the run goes on if the client leaves."""
    runner.start(new)
    return event_stream(_events(feed, new.as_started(), Cursor()), status_code=status.HTTP_201_CREATED)


def _json(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)


@router.post(
    "/comparisons",
    response_model=ComparisonOut,
    status_code=status.HTTP_201_CREATED,
    responses={201: EVENT_STREAM_DOC[200]},
)
async def create_comparison(
    body: ComparisonIn, user: ApiRater, runner: RunnerDep, feed: FeedDep
) -> ComparisonOut | Response:
    """Ask every selected variant (default: all active) and return when all have answered or failed (the
    asker reads their own comparison whatever their role); with `"stream": true`, answer with server-sent
    events as the variants write instead."""
    new = await runner.create(
        body.query, body.variant_ids, created_by=user.name, dataset=body.dataset, tags=body.tags
    )
    if not body.stream:
        return comparison_out(await runner.run_to_completion(new))
    return _stream_run(runner, feed, new)


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


@router.get("/comparisons/{comparison_id}/events", response_class=Response, responses=EVENT_STREAM_DOC)
async def comparison_events(
    comparison_id: Id,
    _user: ApiUser,
    reader: ReaderDep,
    feed: FeedDep,
    last_event_id: Annotated[str | None, Header(max_length=2000)] = None,
) -> Response:
    """The comparison's events (as a streamed POST sends them) from the cursor in Last-Event-ID on, or from
    the start: what is stored is replayed, what is still being written follows as it comes; no model is
    called again. Ends with `end` once every output is stored. Raters who have not rated it get 403."""
    comparison = await reader.get(comparison_id)
    return event_stream(_events(feed, comparison, Cursor.parse(last_event_id)))


@router.post("/comparisons/{comparison_id}/stop", response_model=ComparisonOut)
async def stop_comparison(
    comparison_id: Id, user: ApiRater, runner: RunnerDep, sessions: SessionsDep
) -> ComparisonOut:
    """Stop the variants still answering: each is stored as `stopped` with the text it had written (wherever
    it runs). Answers already in are kept. Returns the comparison once they are stored."""
    async with sessions() as session:  # no transaction is held while the answers stop
        await ComparisonReader(session, user).get(
            comparison_id
        )  # 404, or 403 for a rater who may not read it
    await runner.stop(comparison_id)
    async with sessions() as session:
        return comparison_out(await ComparisonReader(session, user).get(comparison_id))


@router.post(
    "/sessions",
    response_model=SessionOut,
    status_code=status.HTTP_201_CREATED,
    responses={201: EVENT_STREAM_DOC[200], **errors(404)},
)
async def create_session(
    body: SessionIn, user: ApiRater, runner: RunnerDep, turns: TurnsDep, feed: FeedDep, sessions: SessionsDep
) -> SessionOut | Response:
    """A conversation with several variants at once: its first question (answered like a comparison; with
    `"stream": true` its events), or `comparison_id`, a standalone comparison of yours to continue. Then POST
    each next question to /api/v1/sessions/{id}/turns."""
    if body.comparison_id is not None:
        session_id = await turns.continue_comparison(body.comparison_id, user)
    else:
        assert body.query is not None  # SessionIn holds one of the two
        new = await runner.create(body.query, body.variant_ids, created_by=user.name, start_session=True)
        if body.stream:
            return _stream_run(runner, feed, new)
        await runner.run_to_completion(new)
        session_id = new.comparison.session_id or 0
    async with sessions() as session:
        return session_out(await ComparisonReader(session, user).session(session_id))


@router.post(
    "/sessions/{session_id}/turns",
    response_model=ComparisonOut,
    status_code=status.HTTP_201_CREATED,
    responses={201: EVENT_STREAM_DOC[200], **errors(409)},
)
async def add_turn(
    session_id: Id, body: TurnIn, user: ApiRater, runner: RunnerDep, turns: TurnsDep, feed: FeedDep
) -> ComparisonOut | Response:
    """The next question of the conversation: each variant answers with its own earlier turns in its prompt
    (never another variant's answers). 409 while the previous turn is still being answered."""
    new = await turns.add_turn(session_id, body.query, user)
    if body.stream:
        return _stream_run(runner, feed, new)
    return comparison_out(await runner.run_to_completion(new))


@router.get("/sessions", response_model=list[SessionSummary])
async def list_sessions(
    _user: ApiUser,
    reader: ReaderDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[Offset, Query()] = 0,
) -> list[SessionSummary]:
    return [session_summary(s) for s in await reader.sessions(limit=limit, offset=offset)]


@router.get("/sessions/{session_id}", response_model=SessionOut)
async def get_session(session_id: Id, _user: ApiUser, reader: ReaderDep) -> SessionOut:
    """The conversation turn by turn. A rater sees it once they have rated every turn (403 before)."""
    return session_out(await reader.session(session_id))
