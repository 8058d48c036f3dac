"""Server-sent events: split a text stream into events, and drive a streamed chat to a ChatResult."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, Protocol

import httpx

from app.providers.base import ChatResult, DeltaSink, EndpointConfig, ProviderError
from app.providers.retry import read_json, stream_lines


@dataclasses.dataclass
class StreamState:
    """What a streamed completion has said so far; each API family says how its events `apply`."""

    parts: list[str] = dataclasses.field(default_factory=list)
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    finished: bool = False
    # What the family calls one payload, for error messages ("chunk", "event").
    unit: ClassVar[str] = "event"

    def feed(self, data: str) -> str:
        """Apply one SSE data payload (a JSON object); returns its text delta."""
        try:
            parsed = json.loads(data)
        except ValueError:
            raise ProviderError(
                f"malformed stream {self.unit} ({len(data):,} characters that are not JSON)"
            ) from None
        if not isinstance(parsed, dict):
            raise ProviderError(f"malformed stream {self.unit} (JSON that is not an object)")
        return self.apply(parsed)

    def apply(self, payload: dict[str, Any]) -> str:
        """Apply one parsed payload; returns the text delta it carried ("" if none)."""
        raise NotImplementedError

    def result(self, fallback_model: str, ttft_ms: float | None) -> ChatResult:
        """The accumulated completion."""
        return ChatResult(
            text="".join(self.parts),
            model=self.model or fallback_model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            ttft_ms=ttft_ms,
            finish_reason=self.finish_reason,
        )


async def iter_sse_data(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str]]:
    """Yield (event, data) per SSE event from decoded lines; multi-line data is joined with newlines."""
    event: str | None = None
    data: list[str] = []
    async for raw in lines:
        line = raw.rstrip("\r")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue  # a comment / keep-alive
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
    if data:
        yield event, "\n".join(data)


class ChatStream(Protocol):
    """Accumulates one API family's stream events into a ChatResult."""

    @property
    def finished(self) -> bool:
        """True once the stream's terminal event arrived."""
        ...

    def feed(self, data: str) -> str:
        """Apply one event's data; returns the text delta it carried ("" if none)."""
        ...

    def result(self, fallback_model: str, ttft_ms: float | None) -> ChatResult:
        """The accumulated completion."""
        ...


def is_event_stream(response: httpx.Response) -> bool:
    """Whether the server actually streamed (some ignore `stream: true` and answer with one JSON body)."""
    content_type = str(response.headers.get("content-type", ""))
    return content_type.split(";")[0].strip().lower() == "text/event-stream"


async def read_chat_stream(
    response: httpx.Response,
    endpoint: EndpointConfig,
    stream: ChatStream,
    *,
    started: float,
    parse_body: Callable[[Any], ChatResult],
    on_delta: DeltaSink | None = None,
) -> ChatResult:
    """Consume a 2xx chat response, handing each text delta to `on_delta` as it arrives; time to first token
    is the first non-empty text delta after `started`."""
    queue_ms = reported_queue_ms(response)
    if not is_event_stream(response):
        result = parse_body(await read_json(response, endpoint))
        if on_delta is not None and result.text:
            on_delta(result.text)
        elapsed = round((time.perf_counter() - started) * 1000, 1)
        # Unstreamed, the first token arrives with the last one.
        return dataclasses.replace(
            result, model=result.model or endpoint.model, ttft_ms=elapsed, queue_ms=queue_ms
        )
    ttft_ms: float | None = None
    events = iter_sse_data(stream_lines(response, endpoint))
    async for _event, data in events:
        delta = stream.feed(data)
        if delta and ttft_ms is None:
            ttft_ms = round((time.perf_counter() - started) * 1000, 1)
        if delta and on_delta is not None:
            on_delta(delta)
        if stream.finished:
            await _drain(events)
            break
    return dataclasses.replace(stream.result(endpoint.model, ttft_ms), queue_ms=queue_ms)


async def _drain(events: AsyncIterator[tuple[str | None, str]], *, seconds: float = 1.0, most: int = 64) -> None:
    """Read what follows the end of the answer (normally only the end of the body) so the connection goes
    back to the pool instead of being closed: a new TCP connection per answer cost an experiment a third of
    its throughput. A server that keeps talking past the end is cut off instead."""
    try:
        async with asyncio.timeout(seconds):
            for _ in range(most):
                await anext(events)
    except (StopAsyncIteration, TimeoutError, ProviderError):
        return


def reported_queue_ms(response: httpx.Response) -> float | None:
    """The server's own queue time (X-Queue-Ms), if it sends a sane one."""
    try:
        value = float(response.headers.get("x-queue-ms", ""))
    except ValueError:
        return None
    return value if 0 <= value < 86_400_000 else None
