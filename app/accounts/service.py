"""Accounts: people with roles, argon2 passwords, invitations, server-side sessions, and API tokens."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts.repository import TokenRepository, UserRepository
from app.core.errors import Conflict, Forbidden, Invalid, NotFound
from app.core.secrets import new_token, read_or_create_secret
from app.models import ROLES, ApiToken, User, UserSession, utcnow

SESSION_LIFETIME = timedelta(days=14)


INVITE_LIFETIME = timedelta(days=7)


MIN_PASSWORD = 10


LOCAL_ADMIN = "local-admin"


USER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,119}$")


_hasher = PasswordHasher()


# Verified against when the name is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def check_role(role: str) -> str:
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}")
    return role


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"password must be at least {MIN_PASSWORD} characters")
    if len(password) > 1024:
        raise Invalid("password must be at most 1024 characters")
    return password


def aware(moment: datetime) -> datetime:
    """SQLite returns naive datetimes; they were stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class NewUser:
    user: User
    # One-time secret for the invite link; None when a password was set directly.
    invite: str | None


class AccountService:
    def __init__(self, session: AsyncSession):
        self.session = session
        self.repo = UserRepository(session)

    async def tokens(self, user: User) -> Sequence[ApiToken]:
        """The user's own API tokens, newest first (never their values)."""
        return await tokens_of(self.session, user)

    async def new_token(self, name: str, user: User) -> str:
        """A new token acting as `user`; its value is returned once and only its hash kept."""
        return await create_token(self.session, name, user)

    async def revoke_token(self, token_id: int, user: User) -> None:
        await revoke_token_id(self.session, token_id, user)

    async def list(self) -> Sequence[User]:
        return await self.repo.list()

    async def create(self, name: str, role: str, password: str | None = None) -> NewUser:
        """A user with a password, or (no password) an invitation valid for a week."""
        name = name.strip()
        if not USER_NAME.match(name):
            raise Invalid("name: letters, digits and . _ @ - only, up to 120 characters")
        if name == LOCAL_ADMIN:
            raise Invalid(f"{LOCAL_ADMIN!r} is reserved for the one-click local admin")
        if await self.repo.by_name(name) is not None:
            raise Conflict(f"a user named {name!r} already exists")
        user = User(name=name, role=check_role(role))
        invite = None
        if password is None:
            invite = self._new_invite(user)
        else:
            user.password_hash = await asyncio.to_thread(_hasher.hash, check_password(password))
        self.repo.add(user)
        await self.session.flush()
        return NewUser(user, invite)

    def _new_invite(self, user: User) -> str:
        invite = secrets.token_urlsafe(32)
        user.invite_hash = sha256(invite)
        user.invite_expires_at = utcnow() + INVITE_LIFETIME
        return invite

    async def get(self, user_id: int) -> User:
        user = await self.repo.get(user_id)
        if user is None:
            raise NotFound(f"user {user_id} not found")
        return user

    async def update(self, user_id: int, *, role: str | None = None, disabled: bool | None = None) -> User:
        """Change a role or disable an account; the last active admin cannot be demoted or disabled."""
        user = await self.get(user_id)
        demoting = role is not None and role != "admin" and user.role == "admin"
        disabling = disabled is True and user.disabled_at is None and user.role == "admin"
        if (demoting or disabling) and await self.repo.count_active_admins() <= 1:
            raise Conflict("this is the last active admin: make someone else admin first")
        if role is not None:
            user.role = check_role(role)
        if disabled is not None:
            user.disabled_at = utcnow() if disabled else None
            if disabled:
                await self._sign_out_everywhere(user)
        await self.session.flush()
        return user

    async def reset(self, user_id: int) -> str:
        """Forget the password, sign the user out everywhere, and return a fresh invitation."""
        user = await self.get(user_id)
        user.password_hash = None
        await self._sign_out_everywhere(user)
        invite = self._new_invite(user)
        await self.session.flush()
        return invite

    async def _sign_out_everywhere(self, user: User) -> None:
        """End every browser session and revoke every API token: whoever held them loses access now."""
        await self.repo.delete_sessions_of(user.id)
        await TokenRepository(self.session).revoke_all_of(user.id, utcnow())

    async def invited(self, invite: str) -> User:
        user = await self.repo.by_invite(sha256(invite))
        if user is None or user.invite_expires_at is None or aware(user.invite_expires_at) < utcnow():
            raise NotFound("this invitation is unknown or has expired: ask an admin for a new one")
        return user

    async def accept_invite(self, invite: str, password: str) -> User:
        user = await self.invited(invite)
        user.password_hash = await asyncio.to_thread(_hasher.hash, check_password(password))
        user.invite_hash = None
        user.invite_expires_at = None
        await self.session.flush()
        return user

    async def set_password(self, name: str, password: str) -> User:
        user = await self.repo.by_name(name)
        if user is None:
            raise NotFound(f"no user named {name!r}")
        user.password_hash = await asyncio.to_thread(_hasher.hash, check_password(password))
        user.invite_hash = None
        await self.session.flush()
        return user

    async def verify(self, name: str, password: str) -> User | None:
        """The active user with this name and password, or None. argon2 runs off the event loop."""
        user = await self.repo.by_name(name.strip())
        stored = user.password_hash if user is not None and user.password_hash else _DUMMY_HASH
        try:
            await asyncio.to_thread(_hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if user is None or not user.password_hash or user.disabled_at is not None:
            return None
        if _hasher.check_needs_rehash(stored):
            user.password_hash = await asyncio.to_thread(_hasher.hash, password)
        return user

    async def local_admin_available(self) -> bool:
        """The one-click local admin is for a single person: gone once anyone has a password."""
        return await self.repo.count_with_password(excluding=LOCAL_ADMIN) == 0

    async def local_admin(self) -> User:
        if not await self.local_admin_available():
            raise Forbidden("accounts exist on this server: sign in with your name and password")
        user = await self.repo.by_name(LOCAL_ADMIN)
        if user is None:
            user = User(name=LOCAL_ADMIN, role="admin")
            self.repo.add(user)
            await self.session.flush()
        return user

    async def start_session(self, user: User) -> str:
        """A new browser session; the returned value goes in the cookie, its hash in the database."""
        now = utcnow()
        await self.repo.delete_expired_sessions(now)
        token = secrets.token_urlsafe(32)
        self.repo.add(
            UserSession(user_id=user.id, token_hash=sha256(token), expires_at=now + SESSION_LIFETIME)
        )
        user.last_login_at = now
        await self.session.flush()
        return token

    async def session_user(self, token: str) -> User | None:
        found = await self.repo.session_by_hash(sha256(token))
        if found is None or aware(found.expires_at) < utcnow() or found.user.disabled_at is not None:
            return None
        return found.user

    async def end_session(self, token: str) -> None:
        await self.repo.delete_session(sha256(token))


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
