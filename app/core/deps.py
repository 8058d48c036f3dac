"""The dependencies every domain's routes share: settings and the request's unit of work.

The long-lived objects (sessions, clients, domain workers) are built by the composition root (app.state,
app.main) and read here by attribute, so this package never imports the domains above it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.database import SessionFactory, unit_of_work_failed
from app.core.settings import Settings


def app_state(request: Request) -> Any:
    """The lifespan's AppState (app/state.py)."""
    return request.app.state.triptych


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_sessions(request: Request) -> SessionFactory:
    """The one factory of sessions: for work that must not hold the request's transaction open."""
    sessions: SessionFactory = app_state(request).sessions
    return sessions


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the route succeeded, rolled back when it raised or
    answered with an error of its own (a 4xx page or fragment marks the request: see `render`). Nothing is
    opened until the first query, and nothing is held across a wait on a model: such routes use
    `get_sessions` for short transactions instead."""
    sessions: SessionFactory = app_state(request).sessions
    async with sessions() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        if unit_of_work_failed(request):
            await session.rollback()
        else:
            await session.commit()


async def get_lookups(request: Request) -> SessionFactory:
    """Sessions for a request's opening one-row lookup (app.core.database.create_lookup_session_factory)."""
    lookups: SessionFactory = app_state(request).lookups
    return lookups


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionsDep = Annotated[SessionFactory, Depends(get_sessions)]
LookupsDep = Annotated[SessionFactory, Depends(get_lookups)]
# scope="function": the commit happens before the response leaves, so a 2xx means it is stored.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
