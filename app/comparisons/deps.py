"""The comparison runner and reader for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.accounts.auth import Reader
from app.comparisons.feed import ComparisonFeed
from app.comparisons.reader import ComparisonReader
from app.comparisons.service import ComparisonRunner
from app.comparisons.turns import SessionTurns
from app.core.deps import SessionDep, app_state


async def get_runner(request: Request) -> ComparisonRunner:
    return app_state(request).runner


RunnerDep = Annotated[ComparisonRunner, Depends(get_runner)]


async def get_session_turns(request: Request) -> SessionTurns:
    return SessionTurns(app_state(request).runner)


TurnsDep = Annotated[SessionTurns, Depends(get_session_turns)]


async def get_feed(request: Request) -> ComparisonFeed:
    state = app_state(request)
    return ComparisonFeed(state.sessions, state.runner.live)


FeedDep = Annotated[ComparisonFeed, Depends(get_feed)]


async def get_comparison_reader(session: SessionDep, reader: Reader) -> ComparisonReader:
    return ComparisonReader(session, reader)


ReaderDep = Annotated[ComparisonReader, Depends(get_comparison_reader)]
