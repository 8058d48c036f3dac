"""Who is asking: Bearer tokens for the API, session cookies for the UI, and roles (CSRF: app.csrf)."""

from __future__ import annotations

import ipaddress
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.models import ROLES
from app.services.accounts import SESSION_LIFETIME, AccountService
from app.services.tokens import authenticate

SESSION_COOKIE = "triptych_session"


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user (or the bootstrap token, which acts as admin) and their role."""

    name: str
    role: str = "admin"
    user_id: int | None = None

    def can(self, role: str) -> bool:
        """Roles are ordered viewer < rater < admin; each can do what the ones before it can."""
        return ROLES.index(self.role) >= ROLES.index(role)


def require(principal: Principal, role: str) -> Principal:
    if not principal.can(role):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"this needs the {role} role; you are a {principal.role}"
        )
    return principal


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


def is_loopback_client(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


def local_admin_allowed(request: Request, settings: Settings) -> bool:
    """The one-click local admin: only on a server bound to loopback, only for a loopback client."""
    return settings.local_admin and settings.bound_to_loopback and is_loopback_client(request)


class LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(status.HTTP_401_UNAUTHORIZED, "sign in to continue")


async def cookie_principal(request: Request, session: AsyncSession) -> Principal:
    """The browser user from the session cookie, or LoginRequired (pages answer it with the login form)."""
    token = request.cookies.get(session_cookie_name(request))
    user = await AccountService(session).session_user(token) if token else None
    if user is None:
        raise LoginRequired()
    principal = Principal(name=user.name, role=user.role, user_id=user.id)
    request.state.principal = principal
    return principal


def secure_request(request: Request) -> bool:
    """Cookies are marked Secure (and `__Host-` prefixed) over HTTPS or when the settings say a proxy
    terminates HTTPS in front of us."""
    settings: Settings = request.app.state.settings
    return settings.secure_cookies or request.url.scheme == "https"


def cookie_name(request: Request, base: str) -> str:
    """`__Host-` cookies cannot be set by a sibling subdomain or over plain HTTP, nor scoped to a sub-path:
    the browser refuses a tossed one. The prefix needs Secure, so plain-HTTP localhost keeps the bare name."""
    return f"__Host-{base}" if secure_request(request) else base


def session_cookie_name(request: Request) -> str:
    return cookie_name(request, SESSION_COOKIE)


def session_token_of(request: Request) -> str | None:
    return request.cookies.get(session_cookie_name(request))


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
