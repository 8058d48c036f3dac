"""CSRF defence for the browser UI: a token bound to the session, and an Origin check.

A double-submit cookie alone falls to cookie tossing: a page on another port of the host, a sibling subdomain
or anything injected into plain HTTP can set the cookie to a value it knows. So the token is an HMAC, under a
server secret, of the session cookie (or, before sign-in, of a random pre-session cookie): a tossed cookie
gives the attacker no token they can compute. And every unsafe request must come from our own origin, by its
Origin header or, lacking one, its Referer.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import HTTPException, Request, Response, status

from app.core.auth import cookie_name, secure_request, session_token_of

PRESESSION_COOKIE = "triptych_csrf"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
DEFAULT_PORTS = {"http": 80, "https": 443}


def _key(request: Request) -> bytes:
    key: bytes = request.app.state.triptych.csrf_key
    return key


def _presession_cookie(request: Request) -> str:
    return cookie_name(request, PRESESSION_COOKIE)


def csrf_token_for(request: Request) -> str:
    """This browser's token: bound to its session, or to its pre-session cookie before sign-in."""
    cached = getattr(request.state, "csrf_token", None)
    if cached:
        return str(cached)
    session = session_token_of(request)
    if session:
        binding = "session:" + session
    else:
        presession = request.cookies.get(_presession_cookie(request))
        if not presession:
            presession = secrets.token_urlsafe(32)
            request.state.new_presession = presession
        binding = "presession:" + presession
    digest = hmac.new(_key(request), binding.encode(), hashlib.sha256).digest()
    token = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    request.state.csrf_token = token
    return token


def set_presession_cookie(request: Request, response: Response) -> None:
    """Set the pre-session cookie if this request made one up (the sign-in forms' token depends on it)."""
    value = getattr(request.state, "new_presession", None)
    if value:
        response.set_cookie(
            _presession_cookie(request),
            value,
            httponly=True,
            samesite="strict",
            secure=secure_request(request),
            path="/",
        )


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname.lower(), port or DEFAULT_PORTS.get(scheme)


def allowed_origins(request: Request) -> set[tuple[str, str, int | None]]:
    """Our own origin as the request reached us, and the one the browser sees behind an HTTPS proxy."""
    own = _origin(str(request.base_url))
    origins = {own} if own else set()
    if own and request.app.state.settings.secure_cookies:
        origins.add(("https", own[1], 443 if own[2] in (80, None) else own[2]))
    for trusted in request.app.state.settings.trusted_origins:
        if (parsed := _origin(trusted)) is not None:
            origins.add(parsed)
    return origins


def check_origin(request: Request) -> None:
    """Refuse a cross-origin write: Origin names another origin (or is "null"), or, with no Origin, the
    Referer does. A request carrying neither (not a browser's form post) is left to the token check."""
    origin = request.headers.get("origin")
    source = origin if origin is not None else request.headers.get("referer")
    if source is None:
        return
    if _origin(source) not in allowed_origins(request):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            "cross-origin request refused: this form must be sent from Triptych's own pages",
        )


async def verify_csrf(request: Request) -> None:
    """Every unsafe UI request: from our own origin, echoing this session's token in a header (HTMX) or a
    form field."""
    if request.method in SAFE_METHODS:
        return
    check_origin(request)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not secrets.compare_digest(csrf_token_for(request), sent):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "CSRF check failed: reload the page and try again")
