"""Who is asking: Bearer tokens for the API, the loopback-only local admin for the UI, and CSRF."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass

from fastapi import HTTPException, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.services.tokens import authenticate

CSRF_COOKIE = "triptych_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
LOCAL_ADMIN = "local-admin"


@dataclass(frozen=True)
class Principal:
    name: str
    role: str = "admin"


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
    return Principal(name=found.name)


def is_loopback_client(request: Request) -> bool:
    host = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host in ("localhost", "testclient")


def ui_principal(request: Request, settings: Settings) -> Principal:
    """The browser user. Until accounts exist, only a loopback-bound server on loopback may act as admin."""
    if settings.local_admin and settings.bound_to_loopback and is_loopback_client(request):
        return Principal(name=LOCAL_ADMIN)
    raise HTTPException(
        status.HTTP_403_FORBIDDEN,
        "the web UI is only available to the local admin on a loopback-bound server",
    )


def csrf_token_for(request: Request) -> str:
    """The browser's CSRF token (double-submit cookie), created on first use."""
    token = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_token", None)
    if not token:
        token = secrets.token_urlsafe(32)
        request.state.csrf_token = token
    return str(token)


def set_csrf_cookie(request: Request, response: Response) -> None:
    if request.cookies.get(CSRF_COOKIE) is None and hasattr(request.state, "csrf_token"):
        response.set_cookie(CSRF_COOKIE, request.state.csrf_token, httponly=True, samesite="strict", path="/")


async def verify_csrf(request: Request) -> None:
    """Unsafe UI requests must echo the cookie's token in a header (HTMX) or a form field."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = request.cookies.get(CSRF_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not secrets.compare_digest(expected, sent):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF check failed: reload the page and try again")
