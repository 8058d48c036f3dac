"""The accounts domain's services for its routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.accounts.service import AccountService
from app.core.deps import SessionDep


async def get_account_service(session: SessionDep) -> AccountService:
    return AccountService(session)


AccountsDep = Annotated[AccountService, Depends(get_account_service)]
