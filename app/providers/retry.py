"""Sending to model APIs: timeouts, retries with backoff and Retry-After, and key-free error messages."""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from app.providers.base import EndpointConfig, ProviderError
from app.providers.redaction import api_error_message
from app.providers.redaction import redact as redact_secret
from app.providers.urls import join_url

# 408 as well as the usual set: the OpenAI SDK retries it too. 529 is Anthropic's "overloaded".
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 529})
MAX_BACKOFF_S = 30.0
# A hostile or broken endpoint must not fill our memory: whole responses (a streamed answer included) stop
# here, error bodies (only their JSON message is used) much sooner.
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
MAX_ERROR_BODY_BYTES = 64 * 1024
BASE_BACKOFF_S = 0.5
Sleep = Callable[[float], Awaitable[None]]


def retry_after_seconds(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped; None if unusable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            parsed = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None  # a malformed header falls back to our own backoff
        seconds = parsed.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), MAX_BACKOFF_S)


def retry_delay(headers: Mapping[str, str]) -> float | None:
    """The server's requested delay: OpenAI's `retry-after-ms` first, then the standard `Retry-After`."""
    if ms := headers.get("retry-after-ms"):
        try:
            return min(max(float(ms) / 1000, 0.0), MAX_BACKOFF_S)
        except ValueError:
            pass
    return retry_after_seconds(headers.get("retry-after"))


def backoff_seconds(attempt: int, base: float = BASE_BACKOFF_S) -> float:
    """Exponential backoff with equal jitter for attempt 0, 1, 2, ...: never ~0, never over the cap."""
    ceiling = min(MAX_BACKOFF_S, base * 2.0 ** min(attempt, 30))
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def timeout_for(endpoint: EndpointConfig) -> httpx.Timeout:
    """The per-call timeout: the endpoint's budget for every read, at most 10 s to connect."""
    return httpx.Timeout(endpoint.timeout_s, connect=min(10.0, endpoint.timeout_s))


def redact(text: str, endpoint: EndpointConfig) -> str:
    """`text` with the endpoint's API key removed in every form (servers and proxies echo it back)."""
    return redact_secret(text, endpoint.api_key)


def redact_error(exc: ProviderError, endpoint: EndpointConfig) -> ProviderError:
    """The same error with the key scrubbed from its message: a last line of defence at the adapter edge."""
    message = str(exc)
    clean = redact(message, endpoint)
    if clean == message:
        return exc
    return type(exc)(clean, status_code=exc.status_code, retryable=exc.retryable)


def host_of(url: httpx.URL) -> str:
    """host[:port] for messages: never userinfo, path or query, which may carry secrets."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    return f"{host}:{url.port}" if url.port else host


def error_detail(body: str) -> str:
    """The message of a JSON API error body, shortened; "" for any other body (never shown raw)."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    return api_error_message(data) or ""


def build_request(
    client: httpx.AsyncClient,
    endpoint: EndpointConfig,
    method: str,
    base_url: str,
    path: str,
    *,
    headers: dict[str, str],
    payload: dict[str, Any] | None = None,
    params: dict[str, str] | None = None,
) -> httpx.Request:
    """An httpx request to `base_url` + `path` with the endpoint's timeout; a bad URL is a ProviderError."""
    try:
        url = join_url(base_url, path)
        return client.build_request(
            method, url, json=payload, headers=headers, params=params, timeout=timeout_for(endpoint)
        )
    except httpx.InvalidURL as exc:
        raise ProviderError(f"the endpoint URL is not valid: {redact(str(exc), endpoint)}") from None


def _transport_error(exc: httpx.HTTPError, endpoint: EndpointConfig, host: str) -> ProviderError:
    reason = redact(str(exc) or type(exc).__name__, endpoint)[:200]
    if isinstance(exc, httpx.ConnectTimeout):
        return ProviderError(
            f"timed out after {min(10.0, endpoint.timeout_s):g} s connecting to {host}", retryable=True
        )
    if isinstance(exc, httpx.TimeoutException):
        return ProviderError(f"timed out after {endpoint.timeout_s:g} s waiting for {host}", retryable=True)
    if isinstance(exc, httpx.ConnectError):
        return ProviderError(f"could not connect to {host}: {reason}", retryable=True)
    if isinstance(exc, httpx.NetworkError | httpx.RemoteProtocolError):
        # e.g. a pooled keep-alive connection the server had already closed: nothing was received yet.
        return ProviderError(f"connection to {host} failed before a response: {reason}", retryable=True)
    return ProviderError(f"request to {host} failed: {type(exc).__name__}: {reason}")


def _http_error(response: httpx.Response, body: str, endpoint: EndpointConfig, host: str) -> ProviderError:
    status = response.status_code
    if 300 <= status < 400:
        # Redirects are never followed (a redirect could point anywhere, metadata services included).
        try:
            location = httpx.URL(response.headers.get("location", ""))
            target = f"{host_of(location)}{location.path}" if location.host else location.path
        except httpx.InvalidURL:
            target = ""
        return ProviderError(
            f"HTTP {status} from {host}: redirected to {target or 'elsewhere'}; use the final URL as the base URL",
            status_code=status,
        )
    detail = redact(error_detail(body), endpoint) or response.reason_phrase
    # OpenAI answers 429 for an exhausted quota too; waiting will not help.
    retryable = status in RETRY_STATUSES and "insufficient_quota" not in body
    return ProviderError(f"HTTP {status} from {host}: {detail}", status_code=status, retryable=retryable)


def _gave_up(error: ProviderError, attempts: int) -> ProviderError:
    if attempts <= 1:
        return error
    return ProviderError(
        f"{error} (gave up after {attempts} attempts)",
        status_code=error.status_code,
        retryable=error.retryable,
    )


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
    host = host_of(request.url)
    attempts = 0
    while True:
        attempts += 1
        delay: float | None = None
        try:
            response = await client.send(request, stream=True)
        except httpx.HTTPError as exc:
            error = _transport_error(exc, endpoint, host)
            if not error.retryable or attempts > endpoint.max_retries:
                raise _gave_up(error, attempts) from exc
        else:
            if response.is_success:
                try:
                    yield response
                finally:
                    await response.aclose()
                return
            try:
                body = (await _read_capped(response, MAX_ERROR_BODY_BYTES, truncate=True)).decode(
                    errors="replace"
                )
            except (httpx.HTTPError, ProviderError):
                body = ""
            finally:
                await response.aclose()
            error = _http_error(response, body, endpoint, host)
            if not error.retryable or attempts > endpoint.max_retries:
                raise _gave_up(error, attempts)
            delay = retry_delay(response.headers)
        await sleep(backoff_seconds(attempts - 1) if delay is None else delay)


async def stream_lines(response: httpx.Response, endpoint: EndpointConfig) -> AsyncIterator[str]:
    """The response's text lines; transport failures mid-stream become final (never retried) errors."""
    host = host_of(response.request.url)
    received = 0
    try:
        async for line in response.aiter_lines():
            received += len(line) + 1
            if received > MAX_RESPONSE_BYTES:
                raise ProviderError(
                    f"the stream from {host} went past {MAX_RESPONSE_BYTES // 2**20} MB: stopped"
                )
            yield line
    except httpx.TimeoutException:
        raise ProviderError(
            f"timed out after {endpoint.timeout_s:g} s waiting for more output from {host}"
        ) from None
    except httpx.HTTPError as exc:
        reason = redact(str(exc) or type(exc).__name__, endpoint)[:200]
        raise ProviderError(f"connection to {host} lost mid-stream: {reason}") from None


async def _read_capped(response: httpx.Response, limit: int, *, truncate: bool = False) -> bytes:
    """The body, refused (or, with `truncate`, cut) past `limit` bytes, without reading the rest."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            if truncate:
                break
            raise ProviderError(
                f"the response from {host_of(response.request.url)} is larger than {limit // 2**20} MB: refused"
            )
    return b"".join(chunks)[:limit]


async def read_json(response: httpx.Response, endpoint: EndpointConfig) -> Any:
    """The whole body parsed as JSON; unreadable or malformed bodies are ProviderErrors."""
    host = host_of(response.request.url)
    try:
        raw = await _read_capped(response, MAX_RESPONSE_BYTES)
    except httpx.TimeoutException:
        raise ProviderError(f"timed out after {endpoint.timeout_s:g} s reading from {host}") from None
    except httpx.HTTPError as exc:
        raise ProviderError(f"connection to {host} lost while reading: {type(exc).__name__}") from None
    try:
        return json.loads(raw)
    except ValueError:
        raise ProviderError(f"malformed JSON from {host} ({len(raw):,} bytes that are not JSON)") from None


async def send_json(
    client: httpx.AsyncClient,
    endpoint: EndpointConfig,
    request: httpx.Request,
    *,
    sleep: Sleep = asyncio.sleep,
) -> Any:
    """Send a non-streamed request with retries and return its JSON body."""
    async with open_stream(client, endpoint, request, sleep=sleep) as response:
        return await read_json(response, endpoint)
