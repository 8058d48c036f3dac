"""Who is asking: bearer tokens for the API, session cookies for the UI, and the role each route needs."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.service import SESSION_LIFETIME, AccountService, authenticate
from app.core.auth import (
    LoginRequired,
    Principal,
    is_loopback_client,
    require,
    secure_request,
    session_cookie_name,
)
from app.core.deps import LookupsDep, app_state
from app.core.settings import Settings


async def bearer_principal(request: Request, session: AsyncSession) -> Principal:
    """The API caller from `Authorization: Bearer <token>`, or 401."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            "missing bearer token: send Authorization: Bearer <token>",
            headers={"WWW-Authenticate": "Bearer"},
        )
    found = await authenticate(session, token.strip())
    if found is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked token", headers={"WWW-Authenticate": "Bearer"}
        )
    if found.user is None:
        return Principal(name=found.name)
    return Principal(name=found.user.name, role=found.user.role, user_id=found.user.id)


def local_admin_allowed(request: Request, settings: Settings) -> bool:
    """The one-click local admin: only on a server bound to loopback, only for a loopback client."""
    return settings.local_admin and settings.bound_to_loopback and is_loopback_client(request)


async def cookie_principal(request: Request, session: AsyncSession) -> Principal:
    """The browser user from the session cookie, or LoginRequired (pages answer it with the login form)."""
    token = request.cookies.get(session_cookie_name(request))
    user = await AccountService(session).session_user(token) if token else None
    if user is None:
        raise LoginRequired()
    principal = Principal(name=user.name, role=user.role, user_id=user.id)
    request.state.principal = principal
    return principal


def set_session_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        session_cookie_name(request),
        token,
        max_age=int(SESSION_LIFETIME.total_seconds()),
        httponly=True,
        # Lax: a link from elsewhere opens the page signed in; writes still need the CSRF token.
        samesite="lax",
        secure=secure_request(request),
        path="/",
    )


class LoginThrottle:
    """Slows password guessing: after `limit` failures for one name or one address in `window` seconds,
    further attempts are refused until the window passes. In memory: one process, forgiven on restart."""

    def __init__(self, limit: int = 10, window: float = 900.0, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def _recent(self, key: str) -> deque[float]:
        failures = self._failures[key]
        while failures and failures[0] < self.clock() - self.window:
            failures.popleft()
        return failures

    def blocked(self, *keys: str) -> bool:
        return any(len(self._recent(k)) >= self.limit for k in keys)

    def failed(self, *keys: str) -> None:
        for key in keys:
            self._recent(key).append(self.clock())

    def succeeded(self, *keys: str) -> None:
        for key in keys:
            self._failures.pop(key, None)


async def get_api_principal(request: Request, lookups: LookupsDep) -> Principal:
    """Looked up in a session of its own (one statement; it records the token's use now and then, in autocommit
    on PostgreSQL: app.core.database.create_lookup_session_factory): the request's unit of work stays
    unopened, so a route that waits on a model holds no database connection meanwhile."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    async with lookups.begin() as session:
        principal = await bearer_principal(request, session)
    request.state.principal = principal
    return principal


async def get_ui_principal(request: Request, lookups: LookupsDep) -> Principal:
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    async with lookups.begin() as session:
        return await cookie_principal(request, session)


async def get_reader(request: Request, lookups: LookupsDep) -> Principal:
    """Whoever reads, authenticated as the route's kind asks (a bearer token under /api/, the session cookie
    for pages): services take it to scope what they read (app/core/readable.py). Looked up once a request."""
    known: Principal | None = getattr(request.state, "principal", None)
    if known is not None:
        return known
    if request.url.path.startswith("/api/"):
        return await get_api_principal(request, lookups)
    return await get_ui_principal(request, lookups)


def _api_role(role: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def dependency(principal: Annotated[Principal, Depends(get_api_principal)]) -> Principal:
        return require(principal, role)

    return dependency


async def require_admin_token(request: Request) -> Principal:
    """An admin's API token, checked outside a route's dependencies (for endpoints that are open on a
    loopback-only server and closed elsewhere, like /metrics)."""
    principal = await get_api_principal(request, app_state(request).lookups)
    return require(principal, "admin")


def _ui_role(role: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def dependency(principal: Annotated[Principal, Depends(get_ui_principal)]) -> Principal:
        return require(principal, role)

    return dependency


async def _api_unblinded(principal: Annotated[Principal, Depends(get_api_principal)]) -> Principal:
    """Raters are the blind role: row-level ratings of others are for admins and viewers."""
    if principal.role == "rater":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "raters see ratings only through blind rating: ask an admin or a viewer",
        )
    return principal


# Reads need any signed-in role; writes name the role they need (viewer < rater < admin).
ApiUser = Annotated[Principal, Depends(get_api_principal)]


ApiRater = Annotated[Principal, Depends(_api_role("rater"))]


ApiAdmin = Annotated[Principal, Depends(_api_role("admin"))]


ApiUnblinded = Annotated[Principal, Depends(_api_unblinded)]


UiUser = Annotated[Principal, Depends(get_ui_principal)]


# The reader a service scopes its reads by (the same principal as the route's ApiUser or UiUser).
Reader = Annotated[Principal, Depends(get_reader)]


UiRater = Annotated[Principal, Depends(_ui_role("rater"))]


UiAdmin = Annotated[Principal, Depends(_ui_role("admin"))]


async def get_login_throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = app_state(request).logins
    return throttle


LoginsDep = Annotated[LoginThrottle, Depends(get_login_throttle)]
