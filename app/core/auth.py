"""Who is acting and what their role allows; cookie names. (Looking people up is the accounts domain's.)"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from fastapi import HTTPException, Request, status

from app.core.settings import Settings
from app.models import ROLES

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


# Background work (runners, the CLI, benches) reads on the team's behalf: nothing is hidden from it, and
# what it produces is scoped again when someone reads it.
BACKGROUND = Principal(name="(background work)", role="admin")


def require(principal: Principal, role: str) -> Principal:
    if not principal.can(role):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"this needs the {role} role; you are a {principal.role}"
        )
    return principal


def is_loopback_client(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


class LoginRequired(HTTPException):
    def __init__(self) -> None:
        super().__init__(status.HTTP_401_UNAUTHORIZED, "sign in to continue")


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
