"""Fakes for the edges tests cannot reach: model APIs over loopback (fake_openai) or in memory (below)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx

Handler = Callable[[httpx.Request], httpx.Response]


def sse_body(events: list[dict[str, object] | str], *, named: bool = False) -> bytes:
    """A server-sent-events body: dicts as JSON data (with `event: <type>` lines if named), strings raw."""
    out = []
    for event in events:
        if isinstance(event, str):
            out.append(f"data: {event}\n\n")
        else:
            prefix = f"event: {event['type']}\n" if named else ""
            out.append(f"{prefix}data: {json.dumps(event)}\n\n")
    return "".join(out).encode()


def sse_response(events: list[dict[str, object] | str], *, named: bool = False) -> httpx.Response:
    """A 200 text/event-stream response carrying `events`."""
    return httpx.Response(
        200, content=sse_body(events, named=named), headers={"content-type": "text/event-stream"}
    )


def mock_client(handler: Handler) -> httpx.AsyncClient:
    """An AsyncClient whose requests go to `handler` in memory (httpx.MockTransport)."""
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def no_sleep(_seconds: float) -> None:
    """An injectable sleep that does not wait."""


class RecordingSleep:
    """An injectable sleep that records the delays it was asked for, without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
