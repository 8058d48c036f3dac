"""The model gateway: the one door every outbound model call goes through.

Comparisons, experiments, the LLM judge and hosted fine-tuning all call models here, never a provider or an
HTTP client of their own (an import contract and a test hold that). At call time the gateway:
- checks the endpoint's URL against the outbound policy (a name can resolve elsewhere since it was saved;
  a check is trusted for a few seconds so an experiment's thousand calls do not resolve it a thousand times);
- bounds the whole call with a deadline above the provider's own timeouts and retries (providers retry only
  before any answer text arrived, so a generation is never billed twice);
- redacts the endpoint's key, in every form an upstream echoes it, from everything that comes back: answer
  text as it streams, error messages, model names, and every string of a JSON body (job events, failure
  reasons, fine-tuned model names) before anything stores, shows or logs it;
- counts calls, errors and latency per endpoint.

Streaming is the primitive: `stream` yields text deltas and then the finished call; `chat` is a fold over it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.providers.base import ChatRequest, ChatResult, EndpointConfig, ProviderError
from app.providers.redaction import redact
from app.providers.registry import ProviderRegistry
from app.providers.retry import MAX_BACKOFF_S, open_stream, read_json, timeout_for
from app.providers.urls import avalidate_endpoint_url, join_url

URL_CHECK_TTL_S = 5.0


@dataclass(frozen=True)
class Delta:
    """A piece of answer text, already redacted."""

    text: str


@dataclass(frozen=True)
class Finished:
    """The whole call: its result (text redacted, equal to the deltas joined) and the gateway's own time."""

    result: ChatResult


StreamEvent = Delta | Finished


@dataclass
class EndpointStats:
    """What the gateway saw of one endpoint (a base URL and model) since this process started."""

    base_url: str
    model: str
    calls: int = 0
    errors: int = 0
    total_ms: float = 0.0
    last_error: str = ""
    latencies_ms: list[float] = field(default_factory=list)

    def record(self, elapsed_ms: float, error: str | None) -> None:
        self.calls += 1
        self.total_ms += elapsed_ms
        self.latencies_ms = [*self.latencies_ms[-199:], elapsed_ms]
        if error is not None:
            self.errors += 1
            self.last_error = error

    def percentile_ms(self, q: float) -> float | None:
        """The q-th percentile (0-100) of the latest 200 calls' time in the gateway, nearest rank."""
        if not self.latencies_ms:
            return None
        ordered = sorted(self.latencies_ms)
        return round(ordered[min(len(ordered) - 1, max(0, int(-(-q * len(ordered) // 100)) - 1))], 1)


def deadline_s(endpoint: EndpointConfig) -> float:
    """Nothing may keep a call open forever: every attempt's timeout, one more for a slow stream's end, and
    the longest wait between attempts (Retry-After is capped at MAX_BACKOFF_S)."""
    retries = endpoint.max_retries
    return endpoint.timeout_s * (retries + 2) + MAX_BACKOFF_S * retries


class RedactingText:
    """Redacts a key from text that arrives in pieces: a key split across two deltas is still caught,
    because the last few characters (as long as the longest form a key takes) wait for the next piece."""

    def __init__(self, secret: str | None):
        self.secret = secret
        # Percent-encoding is the longest form: three characters per byte, plus spacing between them.
        self.hold = 4 * len(secret.encode()) + 8 if secret else 0
        self.pending = ""

    def feed(self, piece: str) -> str:
        """The part of the text so far that can be shown now."""
        if not self.hold:
            return piece
        text = redact(self.pending + piece, self.secret)
        self.pending = text[-self.hold :]
        return text[: -self.hold]

    def flush(self) -> str:
        text, self.pending = redact(self.pending, self.secret), ""
        return text


def redact_tree(value: Any, secret: str | None) -> Any:
    """Every string in a JSON value (keys too) with the key redacted."""
    if not secret:
        return value
    if isinstance(value, str):
        return redact(value, secret)
    if isinstance(value, list):
        return [redact_tree(v, secret) for v in value]
    if isinstance(value, dict):
        return {redact_tree(k, secret): redact_tree(v, secret) for k, v in value.items()}
    return value


class ModelGateway:
    """Every model call, with the outbound-URL policy, deadline, retries, redaction and per-endpoint figures."""

    def __init__(
        self,
        providers: ProviderRegistry,
        http: httpx.AsyncClient,
        *,
        allow_private: bool,
        clock: Callable[[], float] = time.monotonic,
        observe: Callable[[str, str, float, str | None], None] | None = None,
    ):
        self.providers = providers
        # Told of every call (base URL, model, seconds, error or None): the app's metrics.
        self.observe = observe
        self.http = http
        self.allow_private = allow_private
        self.clock = clock
        self.stats: dict[str, EndpointStats] = {}
        self._url_checked: dict[str, float] = {}  # base URL -> until when its last check holds

    async def check(self, endpoint: EndpointConfig) -> None:
        """Refuse the call unless the policy allows the host the URL names now (ProviderError). The bundled
        server this process runs is exempt: its loopback address is ours."""
        if endpoint.bundled:
            return
        now = self.clock()
        if self._url_checked.get(endpoint.base_url, 0.0) > now:
            return
        try:
            await avalidate_endpoint_url(endpoint.base_url, allow_private=self.allow_private)
        except ValueError as exc:
            raise ProviderError(f"endpoint refused: {exc}") from None
        self._url_checked[endpoint.base_url] = now + URL_CHECK_TTL_S

    async def stream(self, endpoint: EndpointConfig, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        """Text deltas as the model writes them, then Finished; ProviderError (redacted) on failure, and a
        ProviderError too when the deadline passes."""
        await self.check(endpoint)
        provider = self.providers.get(endpoint.kind)
        text = RedactingText(endpoint.api_key)
        deltas: asyncio.Queue[str | ChatResult | BaseException] = asyncio.Queue()

        def on_delta(piece: str) -> None:
            if shown := text.feed(piece):
                deltas.put_nowait(shown)

        async def call() -> None:
            try:
                async with asyncio.timeout(deadline_s(endpoint)):
                    result = await provider.chat(endpoint, request, on_delta)
            except TimeoutError:
                deltas.put_nowait(ProviderError("timed out waiting for the model"))
            except BaseException as exc:  # handed to the consumer, which re-raises it
                deltas.put_nowait(exc)
            else:
                deltas.put_nowait(result)

        started = self.clock()
        task = asyncio.create_task(call())
        streamed: list[str] = []
        error: str | None = None
        try:
            while True:
                item = await deltas.get()
                if isinstance(item, BaseException):
                    if isinstance(item, ProviderError):
                        item = ProviderError(
                            redact(str(item), endpoint.api_key), status_code=item.status_code, retryable=item.retryable
                        )
                    error = str(item) or type(item).__name__
                    raise item
                if isinstance(item, str):
                    streamed.append(item)
                    yield Delta(item)
                    continue
                if tail := text.flush():
                    streamed.append(tail)
                    yield Delta(tail)
                yield Finished(
                    dataclasses.replace(item, text="".join(streamed), model=redact(item.model, endpoint.api_key))
                )
                return
        finally:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._record(endpoint, (self.clock() - started) * 1000, error)

    async def chat(self, endpoint: EndpointConfig, request: ChatRequest) -> ChatResult:
        """The whole answer: a fold over `stream`."""
        async for event in self.stream(endpoint, request):
            if isinstance(event, Finished):
                return event.result
        raise ProviderError("the model's stream ended without an answer")

    async def list_models(self, endpoint: EndpointConfig) -> list[str]:
        """The model ids the endpoint serves (a connection check), redacted."""
        async with self._call(endpoint, "timed out listing the models"):
            models = await self.providers.get(endpoint.kind).list_models(endpoint)
        return [redact(m, endpoint.api_key) for m in models]

    async def call_json(
        self,
        endpoint: EndpointConfig,
        method: str,
        path: str,
        *,
        json: Any = None,
        data: dict[str, str] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One JSON call to the endpoint's API (a hosted fine-tuning API's files and jobs): its body with the
        key redacted from every string. Only reads are retried: a retried POST could start a second job."""
        attempt_policy = endpoint if method == "GET" else dataclasses.replace(endpoint, max_retries=0)
        headers = {"Authorization": f"Bearer {endpoint.api_key}"} if endpoint.api_key else {}
        try:
            request = self.http.build_request(
                method, join_url(endpoint.base_url, path), json=json, data=data, files=files, params=params,
                headers=headers, timeout=timeout_for(endpoint),
            )
        except httpx.InvalidURL:
            raise ProviderError("the endpoint URL is not valid") from None
        async with (
            self._call(endpoint, f"{method} {path} timed out"),
            open_stream(self.http, attempt_policy, request) as response,
        ):
            body = await read_json(response, endpoint)
        return redact_tree(body, endpoint.api_key) if isinstance(body, dict) else {}

    @asynccontextmanager
    async def _call(self, endpoint: EndpointConfig, timed_out: str) -> AsyncIterator[None]:
        """One whole (unstreamed) call: the policy check, the deadline, its error redacted, the call counted."""
        await self.check(endpoint)
        started, error = self.clock(), None
        try:
            async with asyncio.timeout(deadline_s(endpoint)):
                yield
        except TimeoutError:
            error = timed_out
            raise ProviderError(error) from None
        except ProviderError as exc:
            error = redact(str(exc), endpoint.api_key)
            raise ProviderError(error, status_code=exc.status_code) from None
        finally:
            self._record(endpoint, (self.clock() - started) * 1000, error)

    def _record(self, endpoint: EndpointConfig, elapsed_ms: float, error: str | None) -> None:
        key = f"{endpoint.base_url} {endpoint.model}"
        self.stats.setdefault(key, EndpointStats(endpoint.base_url, endpoint.model)).record(elapsed_ms, error)
        if self.observe is not None:
            self.observe(endpoint.base_url, endpoint.model, elapsed_ms / 1000, error)
