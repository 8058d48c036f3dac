"""ASGI middleware: cap request bodies so an upload cannot fill the disk before any check runs, refuse JSON
nested too deep before anything parses it, and add the security headers."""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.nesting import MAX_JSON_DEPTH, too_deep


class BodySizeLimit:
    """Refuse (413) any request body larger than `max_bytes`, by Content-Length or as it streams in."""

    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(send)
            return
        received = 0
        response_started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not response_started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await _send_detail(send, 413, f"request body larger than {self.max_bytes // (1024 * 1024)} MB")


async def _send_detail(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class _TooLarge(Exception):
    pass


# Scanning a body takes a few ms a megabyte (tens in the worst case): past this size, off the event loop.
SCAN_ON_THREAD_BYTES = 256 * 1024
BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


def _may_be_json(scope: Scope) -> bool:
    """What FastAPI would parse as JSON: a JSON media type (`+json` too), or no content type on a body."""
    content_type = dict(scope.get("headers") or []).get(b"content-type")
    if content_type is None:
        return scope.get("method", "GET") not in BODILESS_METHODS
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


class JsonDepthLimit:
    """Refuse (422) a JSON request body nested deeper than `max_depth` before any route, parser or validator
    sees it: each of them recurses once per level, and a RecursionError would be a 500. Every route and
    mounted app gets it, whatever reads its body."""

    def __init__(self, app: ASGIApp, max_depth: int = MAX_JSON_DEPTH):
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _may_be_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left before it finished sending: nobody to answer
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if len(body) > SCAN_ON_THREAD_BYTES:
            deep = await run_in_threadpool(too_deep, body, self.max_depth)
        else:
            deep = too_deep(body, self.max_depth)
        if deep:
            await _send_detail(send, 422, f"the JSON body is nested deeper than {self.max_depth} levels")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # a streaming response still hears the client leave
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


# Scripts and styles only from our own files (htmx and triptych.js are vendored into static/); nothing may
# frame the pages, and forms post only back to us.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
]


class SecurityHeaders:
    """Add the security headers to every HTTP response (pages, API, static files, the bundled model)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, with_headers)
