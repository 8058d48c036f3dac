"""Send with timeouts and retries: exponential backoff with jitter on 429/5xx, honouring Retry-After."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx

from app.providers.base import EndpointConfig, ProviderError

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
MAX_BACKOFF_S = 30.0
Sleep = Callable[[float], Awaitable[None]]


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped; None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None  # a malformed header falls back to our own backoff
        seconds = parsed.timestamp() - (now if now is not None else time.time())
    return min(max(seconds, 0.0), MAX_BACKOFF_S)


def backoff_seconds(attempt: int, base: float = 0.5) -> float:
    """Exponential backoff with full jitter for attempt 0, 1, 2, ..."""
    return random.uniform(0, min(MAX_BACKOFF_S, base * 2**attempt))


def timeout_for(endpoint: EndpointConfig) -> httpx.Timeout:
    return httpx.Timeout(endpoint.timeout_s, connect=min(10.0, endpoint.timeout_s))


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def error_message(response: httpx.Response, body: str) -> str:
    """A short, key-free description of an HTTP error from a model API."""
    detail = body.strip().replace("\n", " ")[:300]
    return f"HTTP {response.status_code} from {_host(str(response.request.url))}: {detail or response.reason_phrase}"


@asynccontextmanager
async def open_stream(
    client: httpx.AsyncClient,
    endpoint: EndpointConfig,
    request: httpx.Request,
    *,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[httpx.Response]:
    """Open a streamed response, retrying before any body byte is consumed; yields a 2xx response.

    Retries happen only while opening: once the caller reads the stream, a failure is final, because
    resending would duplicate (and bill) a generation that was already under way.
    """
    attempt = 0
    while True:
        try:
            response = await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            if attempt >= endpoint.max_retries:
                raise ProviderError(
                    f"timed out after {endpoint.timeout_s:g} s waiting for {_host(str(request.url))}",
                    retryable=True,
                ) from exc
            await sleep(backoff_seconds(attempt))
            attempt += 1
            continue
        except httpx.TransportError as exc:
            if attempt >= endpoint.max_retries:
                raise ProviderError(
                    f"could not connect to {_host(str(request.url))}: {type(exc).__name__}", retryable=True
                ) from exc
            await sleep(backoff_seconds(attempt))
            attempt += 1
            continue
        if response.status_code < 400:
            try:
                yield response
            finally:
                await response.aclose()
            return
        body = (await response.aread()).decode(errors="replace")
        await response.aclose()
        retryable = response.status_code in RETRY_STATUSES
        if not retryable or attempt >= endpoint.max_retries:
            raise ProviderError(
                error_message(response, body), status_code=response.status_code, retryable=retryable
            )
        delay = retry_after_seconds(response.headers.get("retry-after"))
        await sleep(delay if delay is not None else backoff_seconds(attempt))
        attempt += 1


async def read_with_timeout(aiter: AsyncIterator[str], endpoint: EndpointConfig) -> AsyncIterator[str]:
    """Pass lines through; httpx's read timeout already bounds each gap between chunks."""
    try:
        async for line in aiter:
            yield line
    except httpx.TimeoutException as exc:
        raise ProviderError(f"timed out after {endpoint.timeout_s:g} s mid-stream", retryable=True) from exc
    except httpx.TransportError as exc:
        raise ProviderError(f"connection lost mid-stream: {type(exc).__name__}", retryable=True) from exc
