"""The leaderboard service for its routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.accounts.auth import Reader
from app.core.deps import SessionDep, app_state
from app.leaderboard.service import LeaderboardService


async def get_leaderboard_service(session: SessionDep, reader: Reader, request: Request) -> LeaderboardService:
    return LeaderboardService(session, reader, app_state(request).leaderboards)


LeaderboardDep = Annotated[LeaderboardService, Depends(get_leaderboard_service)]
