"""Server-sent events as the HTML standard frames them, and the response that carries them."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

# Proxies (nginx) buffer responses unless told not to; a cached stream would replay stale answers.
SSE_HEADERS = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}

KEEP_ALIVE = ": keep-alive\n\n"


def sse_event(event: str, data: str, event_id: str | None = None) -> str:
    """One event. Each line of `data` is a `data:` field of its own (a browser joins them with newlines);
    an event name or id cannot hold a line break, so one that does is refused."""
    if any(c in event + (event_id or "") for c in "\r\n"):
        raise ValueError("an SSE event name or id cannot contain a line break")
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in data.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return "\n".join(lines) + "\n\n"


def event_stream(events: AsyncIterator[str], status_code: int = 200) -> StreamingResponse:
    """A text/event-stream response of already framed events."""
    return StreamingResponse(events, status_code, media_type="text/event-stream", headers=SSE_HEADERS)
