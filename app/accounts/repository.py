"""People, their sign-in sessions and API tokens (hashes only): all the accounts SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import ApiToken, User, UserSession


class UserRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def by_name(self, name: str) -> User | None:
        return await self.session.scalar(select(User).where(User.name == name))

    async def get(self, user_id: int) -> User | None:
        return await self.session.get(User, user_id)

    async def by_invite(self, invite_hash: str) -> User | None:
        return await self.session.scalar(select(User).where(User.invite_hash == invite_hash))

    async def list(self) -> Sequence[User]:
        return (await self.session.scalars(select(User).order_by(User.name))).all()

    async def count_with_password(self, *, excluding: str) -> int:
        stmt = select(func.count(User.id)).where(User.password_hash.is_not(None), User.name != excluding)
        return int(await self.session.scalar(stmt) or 0)

    async def count_active_admins(self) -> int:
        stmt = select(func.count(User.id)).where(User.role == "admin", User.disabled_at.is_(None))
        return int(await self.session.scalar(stmt) or 0)

    def add(self, user: User | UserSession) -> None:
        self.session.add(user)

    async def session_by_hash(self, token_hash: str) -> UserSession | None:
        return await self.session.scalar(select(UserSession).where(UserSession.token_hash == token_hash))

    async def delete_session(self, token_hash: str) -> None:
        await self.session.execute(delete(UserSession).where(UserSession.token_hash == token_hash))

    async def delete_sessions_of(self, user_id: int) -> None:
        await self.session.execute(delete(UserSession).where(UserSession.user_id == user_id))

    async def delete_expired_sessions(self, now: datetime) -> None:
        await self.session.execute(delete(UserSession).where(UserSession.expires_at < now))


# Every API request looks its token up: the statement is built once (SQLAlchemy then skips building it and
# working out its cache key each time).
_BY_HASH = select(ApiToken).where(ApiToken.token_hash == bindparam("token_hash"))


class TokenRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def by_hash(self, token_hash: str) -> ApiToken | None:
        return await self.session.scalar(_BY_HASH, {"token_hash": token_hash})

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
