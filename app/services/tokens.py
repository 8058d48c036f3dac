"""API tokens: shown once, stored as SHA-256, revocable."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.errors import NotFound
from app.core.secrets import new_token, read_or_create_secret
from app.models import ApiToken, User, utcnow
from app.repository import TokenRepository

LAST_USED_GRANULARITY = timedelta(minutes=5)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, name: str, user: User | None = None) -> str:
    """Create a token acting as `user` and return it; only its hash is kept."""
    token = new_token()
    TokenRepository(session).add(
        ApiToken(name=name, user_id=user.id if user else None, token_hash=hash_token(token))
    )
    await session.flush()
    return token


async def tokens_of(session: AsyncSession, user: User) -> Sequence[ApiToken]:
    return await TokenRepository(session).of_user(user.id)


async def revoke_token_id(session: AsyncSession, token_id: int, user: User) -> None:
    """Revoke one of `user`'s own tokens."""
    found = await TokenRepository(session).get(token_id)
    if found is None or found.user_id != user.id:
        raise NotFound(f"token {token_id} not found")
    found.revoked_at = found.revoked_at or utcnow()


async def authenticate(session: AsyncSession, token: str) -> ApiToken | None:
    """The live token matching `token`, or None (unknown or revoked)."""
    found = await TokenRepository(session).by_hash(hash_token(token))
    if found is None or found.revoked_at is not None:
        return None
    if found.user is not None and found.user.disabled_at is not None:
        return None
    now = utcnow()
    # Coarse on purpose: a write on every API read would serialise readers on SQLite.
    if found.last_used_at is None or now - _aware(found.last_used_at) > LAST_USED_GRANULARITY:
        found.last_used_at = now
    return found


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def revoke_token(session: AsyncSession, name: str) -> int:
    """Revoke every live token with this name; how many were revoked."""
    found = await TokenRepository(session).live_by_name(name)
    for token in found:
        token.revoked_at = utcnow()
    return len(found)


async def ensure_bootstrap_token(
    sessions: async_sessionmaker[AsyncSession], configured: str | None, data_dir: Path
) -> Path | None:
    """Make sure a first token exists: TRIPTYCH_API_TOKEN if set, else one kept in data_dir/api-token."""
    token = configured or read_or_create_secret(data_dir / "api-token", new_token())
    async with sessions.begin() as session:
        repo = TokenRepository(session)
        if await repo.by_hash(hash_token(token)) is None:
            repo.add(ApiToken(name="env" if configured else "local", token_hash=hash_token(token)))
    return None if configured else data_dir / "api-token"
