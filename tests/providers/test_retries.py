"""Retries, Retry-After and timeouts: against a real fake server on loopback, and MockTransport for faults."""

from __future__ import annotations

import asyncio
import dataclasses
import email.utils
import re
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.providers.base import ChatMessage, ChatRequest, EndpointConfig, ProviderError
from app.providers.openai_compat import OpenAICompatProvider
from app.providers.retry import (
    MAX_BACKOFF_S,
    backoff_seconds,
    retry_after_seconds,
    retry_delay,
    timeout_for,
)
from tests.fakes import RecordingSleep, mock_client, no_sleep, sse_body
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer
from tests.servers import free_port

REQUEST = ChatRequest(messages=[ChatMessage("user", "hi")], max_tokens=8)


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    models = {
        "rate-limited": FakeModel(reply="after 429", fail_status=429, fail_times=1, retry_after="0.2"),
        "flaky": FakeModel(reply="after 503s", fail_status=503, fail_times=2),
        "bad-request": FakeModel(fail_status=400),
        "always-down": FakeModel(fail_status=502),
        "hangs": FakeModel(hang=True),
        "no-usage-ext": FakeModel(reply="plain stream", reject_stream_options=True),
        "slow-tokens": FakeModel(reply="one two three four", latency_s=0.05, token_delay_s=0.05),
        "long": FakeModel(reply="a b c d e f g h i j k"),
        **{f"slow-{i}": FakeModel(reply=f"answer {i}", latency_s=0.3) for i in range(3)},
    }
    with FakeOpenAIServer(models) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def endpoint(fake: FakeOpenAIServer, model: str, **kw: float) -> EndpointConfig:
    return EndpointConfig(kind="openai", base_url=fake.base_url, model=model, **kw)  # type: ignore[arg-type]


def host(fake: FakeOpenAIServer) -> str:
    return fake.base_url.removeprefix("http://").removesuffix("/v1")


async def test_429_honours_retry_after_then_succeeds(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    sleep = RecordingSleep()
    result = await OpenAICompatProvider(http, sleep=sleep).chat(endpoint(fake, "rate-limited"), REQUEST)
    assert result.text == "after 429"
    assert sleep.delays == [0.2]
    assert fake.models["rate-limited"].calls == 2


async def test_503_twice_then_success_with_growing_backoff(
    fake: FakeOpenAIServer, http: httpx.AsyncClient
) -> None:
    sleep = RecordingSleep()
    result = await OpenAICompatProvider(http, sleep=sleep).chat(endpoint(fake, "flaky"), REQUEST)
    assert result.text == "after 503s" and fake.models["flaky"].calls == 3
    assert len(sleep.delays) == 2
    assert 0.25 <= sleep.delays[0] <= 0.5 and 0.5 <= sleep.delays[1] <= 1.0


async def test_400_is_not_retried(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    sleep = RecordingSleep()
    with pytest.raises(ProviderError) as caught:
        await OpenAICompatProvider(http, sleep=sleep).chat(endpoint(fake, "bad-request"), REQUEST)
    assert caught.value.status_code == 400 and not caught.value.retryable
    assert str(caught.value) == f"HTTP 400 from {host(fake)}: fake failure 400"
    assert sleep.delays == [] and fake.models["bad-request"].calls == 1


async def test_retries_are_bounded_by_max_retries(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    sleep = RecordingSleep()
    with pytest.raises(ProviderError, match=r"HTTP 502 .* \(gave up after 4 attempts\)") as caught:
        await OpenAICompatProvider(http, sleep=sleep).chat(
            endpoint(fake, "always-down", max_retries=3), REQUEST
        )
    assert caught.value.status_code == 502 and caught.value.retryable
    assert fake.models["always-down"].calls == 4 and len(sleep.delays) == 3


async def test_no_retries_when_max_retries_is_zero(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    with pytest.raises(ProviderError, match="HTTP 502"):
        await OpenAICompatProvider(http, sleep=no_sleep).chat(
            endpoint(fake, "always-down", max_retries=0), REQUEST
        )
    assert fake.models["always-down"].calls == 1


async def test_a_hanging_server_times_out_clearly(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    with pytest.raises(ProviderError) as caught:
        await OpenAICompatProvider(http, sleep=RecordingSleep()).chat(
            endpoint(fake, "hangs", timeout_s=0.3, max_retries=1), REQUEST
        )
    assert str(caught.value) == f"timed out after 0.3 s waiting for {host(fake)} (gave up after 2 attempts)"
    assert caught.value.retryable and fake.models["hangs"].calls == 2
    assert time.perf_counter() - started < 3


async def test_connection_refused_is_a_clear_error(http: httpx.AsyncClient) -> None:
    port = free_port()  # bound and released: nothing listens there now
    closed = EndpointConfig(kind="openai", base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1)
    sleep = RecordingSleep()
    with pytest.raises(ProviderError, match=re.escape(f"could not connect to 127.0.0.1:{port}")):
        await OpenAICompatProvider(http, sleep=sleep).chat(closed, REQUEST)
    assert len(sleep.delays) == 1


async def test_stream_options_refusal_over_http(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    result = await OpenAICompatProvider(http).chat(endpoint(fake, "no-usage-ext"), REQUEST)
    assert result.text == "plain stream" and result.prompt_tokens is None
    assert ["stream_options" in r for r in fake.requests] == [True, False]


async def test_usage_ttft_and_length_over_http(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    provider = OpenAICompatProvider(http)
    started = time.perf_counter()
    result = await provider.chat(endpoint(fake, "slow-tokens"), REQUEST)
    total_ms = (time.perf_counter() - started) * 1000
    assert result.text == "one two three four" and result.completion_tokens == 4
    assert result.ttft_ms is not None and 40 <= result.ttft_ms < total_ms - 100
    truncated = await provider.chat(endpoint(fake, "long"), REQUEST)
    assert truncated.text == "a b c d e f g h" and truncated.finish_reason == "length"


async def test_fake_latency_overlaps_across_concurrent_calls(
    fake: FakeOpenAIServer, http: httpx.AsyncClient
) -> None:
    provider = OpenAICompatProvider(http)
    started = time.perf_counter()
    results = await asyncio.gather(*(provider.chat(endpoint(fake, f"slow-{i}"), REQUEST) for i in range(3)))
    assert [r.text for r in results] == ["answer 0", "answer 1", "answer 2"]
    assert time.perf_counter() - started < 0.9


async def test_key_sent_and_never_echoed_back(http: httpx.AsyncClient) -> None:
    with FakeOpenAIServer({"m": FakeModel(reply="ok")}, api_key="sk-right-key-123") as fake:
        provider = OpenAICompatProvider(http, sleep=no_sleep)
        right = EndpointConfig(kind="openai", base_url=fake.base_url, model="m", api_key="sk-right-key-123")
        assert (await provider.chat(right, REQUEST)).text == "ok"
        wrong = dataclasses.replace(right, api_key="sk-wrong-key-456")
        with pytest.raises(ProviderError) as caught:
            await provider.chat(wrong, REQUEST)
        assert fake.headers[-1]["authorization"] == "Bearer sk-wrong-key-456"
    assert "sk-wrong-key-456" not in str(caught.value)
    assert "HTTP 401" in str(caught.value) and "Incorrect API key provided: ***" in str(caught.value)


async def test_list_models_over_http(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    models = await OpenAICompatProvider(http).list_models(endpoint(fake, "flaky"))
    assert "flaky" in models and "hangs" in models


class BrokenStream(httpx.AsyncByteStream):
    """A body that delivers one chunk and then loses the connection."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield sse_body([{"choices": [{"delta": {"content": "partial"}}]}])
        raise httpx.ReadError("connection reset by peer")


async def test_never_retries_once_stream_bytes_were_consumed() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, stream=BrokenStream(), headers={"content-type": "text/event-stream"})

    config = EndpointConfig(kind="openai", base_url="https://api.example.test/v1", model="m", max_retries=5)
    async with mock_client(handler) as client:
        with pytest.raises(ProviderError, match="lost mid-stream: connection reset by peer"):
            await OpenAICompatProvider(client, sleep=no_sleep).chat(config, REQUEST)
    assert calls == 1


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (httpx.ConnectTimeout("slow"), "timed out after 10 s connecting to api.example.test"),
        (httpx.RemoteProtocolError("Server disconnected"), "failed before a response: Server disconnected"),
    ],
)
async def test_transport_faults_before_any_byte_are_retried(fault: httpx.HTTPError, message: str) -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise fault

    config = EndpointConfig(kind="openai", base_url="https://api.example.test/v1", model="m", max_retries=2)
    async with mock_client(handler) as client:
        with pytest.raises(ProviderError, match=re.escape(message)):
            await OpenAICompatProvider(client, sleep=no_sleep).chat(config, REQUEST)
    assert calls == 3


@pytest.mark.parametrize(
    ("status", "body", "headers", "calls"),
    [
        (301, {}, {"location": "http://169.254.169.254/latest"}, 1),  # redirects are refused, not followed
        (429, {"error": {"code": "insufficient_quota", "message": "quota"}}, {}, 1),
        (429, {"error": {"message": "slow down"}}, {"retry-after-ms": "1500"}, 2),
    ],
)
async def test_what_gets_retried(
    status: int, body: dict[str, object], headers: dict[str, str], calls: int
) -> None:
    sent = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal sent
        sent += 1
        if sent == 1:
            return httpx.Response(status, json=body, headers=headers)
        return httpx.Response(200, json={"choices": [{"message": {"content": "ok"}}]})

    sleep = RecordingSleep()
    config = EndpointConfig(kind="openai", base_url="https://api.example.test/v1", model="m")
    async with mock_client(handler) as client:
        provider = OpenAICompatProvider(client, sleep=sleep)
        if calls == 1:
            with pytest.raises(ProviderError, match=f"HTTP {status}"):
                await provider.chat(config, REQUEST)
        else:
            assert (await provider.chat(config, REQUEST)).text == "ok"
            assert sleep.delays == [1.5]
    assert sent == calls


def test_retry_after_parsing() -> None:
    now = time.time()
    assert retry_after_seconds("3") == 3
    assert retry_after_seconds(" 0.5 ") == 0.5
    assert retry_after_seconds("9999") == MAX_BACKOFF_S  # capped
    assert retry_after_seconds("-4") == 0
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    assert retry_after_seconds("nan") is None
    date = email.utils.formatdate(now + 5, usegmt=True)
    assert 3 <= (retry_after_seconds(date, now=now) or 0) <= 5.5
    past = email.utils.formatdate(now - 60, usegmt=True)
    assert retry_after_seconds(past, now=now) == 0
    assert retry_delay(httpx.Headers({"retry-after-ms": "250", "retry-after": "9"})) == 0.25
    assert retry_delay(httpx.Headers({"retry-after": "9"})) == 9
    assert retry_delay(httpx.Headers({})) is None


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    for attempt in range(12):
        ceiling = min(MAX_BACKOFF_S, 0.5 * 2**attempt)
        delays = {backoff_seconds(attempt) for _ in range(20)}
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jittered
    assert backoff_seconds(1000) <= MAX_BACKOFF_S


def test_timeouts_follow_the_endpoint() -> None:
    slow = timeout_for(EndpointConfig(kind="openai", base_url="http://h", model="m", timeout_s=120))
    assert (slow.read, slow.connect, slow.write, slow.pool) == (120, 10, 120, 120)
    quick = timeout_for(EndpointConfig(kind="openai", base_url="http://h", model="m", timeout_s=2.5))
    assert (quick.read, quick.connect) == (2.5, 2.5)
