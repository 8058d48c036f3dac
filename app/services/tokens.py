"""API tokens: shown once, stored as SHA-256, revocable."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.models import ApiToken, utcnow
from app.repository import TokenRepository
from app.services.secrets import new_token, read_or_create_secret

LAST_USED_GRANULARITY = timedelta(minutes=5)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, name: str) -> str:
    """Create a token and return it; only its hash is kept."""
    token = new_token()
    TokenRepository(session).add(ApiToken(name=name, token_hash=hash_token(token)))
    await session.flush()
    return token


async def authenticate(session: AsyncSession, token: str) -> ApiToken | None:
    """The live token matching `token`, or None (unknown or revoked)."""
    found = await TokenRepository(session).by_hash(hash_token(token))
    if found is None or found.revoked_at is not None:
        return None
    now = utcnow()
    # Coarse on purpose: a write on every API read would serialise readers on SQLite.
    if found.last_used_at is None or now - _aware(found.last_used_at) > LAST_USED_GRANULARITY:
        found.last_used_at = now
    return found


def _aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def revoke_token(session: AsyncSession, name: str) -> bool:
    found = await TokenRepository(session).by_name(name)
    if found is None:
        return False
    found.revoked_at = utcnow()
    return True


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
