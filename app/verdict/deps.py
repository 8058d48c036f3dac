"""The verdict service for its routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.accounts.auth import Reader
from app.core.deps import SessionDep
from app.verdict.service import VerdictService


async def get_verdict_service(session: SessionDep, reader: Reader) -> VerdictService:
    return VerdictService(session, reader)


VerdictDep = Annotated[VerdictService, Depends(get_verdict_service)]
