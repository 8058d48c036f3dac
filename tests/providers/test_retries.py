"""Retries, Retry-After and timeouts against a real fake server on loopback."""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from app.providers.base import ChatMessage, ChatRequest, EndpointConfig, ProviderError
from app.providers.openai_compat import OpenAICompatProvider
from app.providers.retry import backoff_seconds, retry_after_seconds
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer

REQUEST = ChatRequest(messages=[ChatMessage("user", "hi")], max_tokens=8)


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    models = {
        "rate-limited": FakeModel(reply="after 429", fail_status=429, fail_times=1, retry_after="0.2"),
        "flaky": FakeModel(reply="after 503s", fail_status=503, fail_times=2),
        "bad-request": FakeModel(fail_status=400),
        "always-down": FakeModel(fail_status=502),
        "hangs": FakeModel(hang=True),
    }
    with FakeOpenAIServer(models) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def endpoint(fake: FakeOpenAIServer, model: str, **kw: float) -> EndpointConfig:
    return EndpointConfig(kind="openai", base_url=fake.base_url, model=model, **kw)  # type: ignore[arg-type]


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


async def test_429_honours_retry_after_then_succeeds(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    sleep = RecordingSleep()
    result = await OpenAICompatProvider(http, sleep=sleep).chat(endpoint(fake, "rate-limited"), REQUEST)
    assert result.text == "after 429"
    assert sleep.delays == [0.2]
    assert fake.models["rate-limited"].calls == 2


async def test_503_twice_then_success_with_backoff(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    sleep = RecordingSleep()
    result = await OpenAICompatProvider(http, sleep=sleep).chat(endpoint(fake, "flaky"), REQUEST)
    assert result.text == "after 503s"
    assert len(sleep.delays) == 2 and all(0 <= d <= 30 for d in sleep.delays)


async def test_400_is_not_retried(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    sleep = RecordingSleep()
    with pytest.raises(ProviderError) as caught:
        await OpenAICompatProvider(http, sleep=sleep).chat(endpoint(fake, "bad-request"), REQUEST)
    assert caught.value.status_code == 400 and sleep.delays == []
    assert fake.models["bad-request"].calls == 1


async def test_retries_are_bounded(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    sleep = RecordingSleep()
    with pytest.raises(ProviderError, match="HTTP 502"):
        await OpenAICompatProvider(http, sleep=sleep).chat(
            endpoint(fake, "always-down", max_retries=3), REQUEST
        )
    assert fake.models["always-down"].calls == 4 and len(sleep.delays) == 3


async def test_a_hanging_server_times_out_clearly(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    started = time.perf_counter()
    with pytest.raises(ProviderError, match=re.escape("timed out after 0.3 s")):
        await OpenAICompatProvider(http, sleep=RecordingSleep()).chat(
            endpoint(fake, "hangs", timeout_s=0.3, max_retries=0), REQUEST
        )
    assert time.perf_counter() - started < 3


async def test_connection_refused_is_a_clear_error(http: httpx.AsyncClient) -> None:
    closed = EndpointConfig(kind="openai", base_url="http://127.0.0.1:9/v1", model="m", max_retries=1)
    with pytest.raises(ProviderError, match=re.escape("could not connect to 127.0.0.1:9")):
        await OpenAICompatProvider(http, sleep=RecordingSleep()).chat(closed, REQUEST)


async def test_list_models(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    models = await OpenAICompatProvider(http).list_models(endpoint(fake, "flaky"))
    assert "flaky" in models and "hangs" in models


def test_retry_after_parsing() -> None:
    now = time.time()
    assert retry_after_seconds("3") == 3
    assert retry_after_seconds("9999") == 30  # capped
    assert retry_after_seconds(None) is None and retry_after_seconds("soon") is None
    date = email.utils.formatdate(now + 5, usegmt=True)
    assert 3 <= (retry_after_seconds(date, now=now) or 0) <= 5.5
    assert all(0 <= backoff_seconds(n) <= 30 for n in range(10))
