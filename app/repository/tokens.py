"""API tokens (hashes only)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiToken


class TokenRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def by_hash(self, token_hash: str) -> ApiToken | None:
        return await self.session.scalar(select(ApiToken).where(ApiToken.token_hash == token_hash))

    async def by_name(self, name: str) -> ApiToken | None:
        return await self.session.scalar(
            select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        )

    def add(self, token: ApiToken) -> None:
        self.session.add(token)
