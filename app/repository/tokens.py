"""API tokens (hashes only)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiToken


class TokenRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def by_hash(self, token_hash: str) -> ApiToken | None:
        return await self.session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))

    async def live_by_name(self, name: str) -> Sequence[ApiToken]:
        stmt = select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        return (await self.session.scalars(stmt)).all()

    async def get(self, token_id: int) -> ApiToken | None:
        return await self.session.get(ApiToken, token_id)

    async def of_user(self, user_id: int) -> Sequence[ApiToken]:
        stmt = select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id.desc())
        return (await self.session.scalars(stmt)).all()

    async def revoke_all_of(self, user_id: int, when: datetime) -> None:
        await self.session.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=when)
        )

    def add(self, token: ApiToken) -> None:
        self.session.add(token)
