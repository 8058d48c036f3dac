"""The model gateway: the outbound-URL policy at call time, streaming as the primitive (a whole answer is the
fold of its deltas), redaction of the key from deltas split anywhere, model names, errors and JSON bodies, the
deadline, and per-endpoint figures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import ClassVar

import httpx
import pytest

from app.providers.base import ChatMessage, ChatRequest, ChatResult, DeltaSink, EndpointConfig, ProviderError
from app.providers.gateway import Delta, Finished, ModelGateway, RedactingText
from app.providers.registry import ProviderRegistry, build_registry
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer

KEY = "sk-live-0123456789abcdef"
LONG_REPLY = "word " * 60 + f"the key was {KEY} and more words " * 5
REQUEST = ChatRequest(messages=[ChatMessage("user", "hi")], max_tokens=8)


class ScriptedProvider:
    """Streams the given pieces, then answers; or raises; or never answers."""

    kind: ClassVar[str] = "scripted"
    supports_streaming: ClassVar[bool] = True

    def __init__(self, pieces: list[str], *, error: str | None = None, hang: bool = False, model: str = "m"):
        self.pieces, self.error, self.hang, self.model = pieces, error, hang, model
        self.calls = 0

    async def chat(self, endpoint: EndpointConfig, request: ChatRequest, on_delta: DeltaSink | None = None) -> ChatResult:
        self.calls += 1
        for piece in self.pieces:
            if on_delta is not None:
                on_delta(piece)
            await asyncio.sleep(0)
        if self.hang:
            await asyncio.sleep(3600)
        if self.error is not None:
            raise ProviderError(self.error, status_code=401)
        return ChatResult(text="".join(self.pieces), model=self.model, completion_tokens=len(self.pieces))

    async def list_models(self, endpoint: EndpointConfig) -> list[str]:
        return [self.model]


def _gateway(provider: ScriptedProvider, *, allow_private: bool = True) -> ModelGateway:
    registry = ProviderRegistry()
    registry.register(provider)  # type: ignore[arg-type]
    return ModelGateway(registry, httpx.AsyncClient(), allow_private=allow_private)


def _endpoint(**overrides: object) -> EndpointConfig:
    values: dict[str, object] = {"kind": "scripted", "base_url": "http://127.0.0.1:9/v1", "model": "m", "api_key": KEY}
    return EndpointConfig(**(values | overrides))  # type: ignore[arg-type]


async def _events(gateway: ModelGateway, endpoint: EndpointConfig) -> list[Delta | Finished]:
    return [event async for event in gateway.stream(endpoint, REQUEST)]


@pytest.mark.parametrize("cut", range(1, len(KEY)))
async def test_a_key_split_across_deltas_never_streams_and_the_answer_is_the_deltas_joined(cut: int) -> None:
    pieces = ["Your key is ", KEY[:cut], KEY[cut:], " - keep it safe."]
    gateway = _gateway(ScriptedProvider(pieces, model=f"model-{KEY}"))
    events = await _events(gateway, _endpoint())
    deltas = [e.text for e in events if isinstance(e, Delta)]
    finished = events[-1]
    assert isinstance(finished, Finished)
    assert all(KEY[:6] not in d for d in deltas)
    assert "".join(deltas) == finished.result.text == "Your key is *** - keep it safe."
    assert finished.result.model == "model-***"


def test_redacting_text_without_a_key_holds_nothing_back() -> None:
    text = RedactingText(None)
    assert text.feed("a") == "a" and text.flush() == ""


async def test_chat_is_the_fold_of_the_stream() -> None:
    gateway = _gateway(ScriptedProvider(["one ", "two"]))
    assert (await gateway.chat(_endpoint(), REQUEST)).text == "one two"


async def test_the_url_policy_is_applied_at_call_time_and_the_bundled_server_is_exempt() -> None:
    provider = ScriptedProvider(["hi"])
    gateway = _gateway(provider, allow_private=False)
    with pytest.raises(ProviderError, match="endpoint refused"):
        await gateway.chat(_endpoint(), REQUEST)
    assert provider.calls == 0
    with pytest.raises(ProviderError, match="endpoint refused"):
        await gateway.list_models(_endpoint())
    assert (await gateway.chat(_endpoint(bundled=True), REQUEST)).text == "hi"
    # A check is trusted for a few seconds only; a changed policy applies to the next call after that.
    allowed = _gateway(provider)
    await allowed.chat(_endpoint(), REQUEST)
    allowed.allow_private = False
    allowed._url_checked.clear()
    with pytest.raises(ProviderError, match="endpoint refused"):
        await allowed.chat(_endpoint(), REQUEST)


async def test_errors_are_redacted_and_counted_per_endpoint() -> None:
    gateway = _gateway(ScriptedProvider([], error=f"invalid key {KEY} ({KEY.upper()})"))
    with pytest.raises(ProviderError) as raised:
        await gateway.chat(_endpoint(), REQUEST)
    assert KEY.lower() not in str(raised.value).lower() and raised.value.status_code == 401
    stats = gateway.stats["http://127.0.0.1:9/v1 m"]
    assert (stats.calls, stats.errors) == (1, 1) and KEY not in stats.last_error


async def test_the_deadline_ends_a_call_that_never_answers() -> None:
    gateway = _gateway(ScriptedProvider(["partial "], hang=True))
    with pytest.raises(ProviderError, match="timed out"):
        await gateway.chat(_endpoint(timeout_s=0.05, max_retries=0), REQUEST)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer({"echo": FakeModel(reply=LONG_REPLY, token_delay_s=0.001)}) as server:
        yield server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


async def test_a_real_stream_is_redacted_as_it_arrives(fake: FakeOpenAIServer, http: httpx.AsyncClient) -> None:
    gateway = ModelGateway(build_registry(http), http, allow_private=True)
    endpoint = EndpointConfig(kind="openai", base_url=fake.base_url, model="echo", api_key=KEY)
    events = [e async for e in gateway.stream(endpoint, ChatRequest(messages=REQUEST.messages, max_tokens=500))]
    deltas = [e.text for e in events if isinstance(e, Delta)]
    assert len(deltas) > 1 and all(KEY not in d for d in deltas)
    assert "".join(deltas) == LONG_REPLY.replace(KEY, "***")


async def test_json_calls_come_back_with_every_string_redacted(http: httpx.AsyncClient) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"status": "failed", "error": {"message": f"bad {KEY}"}, KEY: [KEY]})

    mocked = httpx.AsyncClient(transport=httpx.MockTransport(answer))
    gateway = ModelGateway(ProviderRegistry(), mocked, allow_private=True)
    body = await gateway.call_json(_endpoint(base_url="http://127.0.0.1:9/v1"), "GET", "/fine_tuning/jobs/1")
    assert body == {"status": "failed", "error": {"message": "bad ***"}, "***": ["***"]}


def test_percentiles_are_nearest_rank() -> None:
    from app.providers.gateway import EndpointStats

    stats = EndpointStats("http://x/v1", "m")
    for ms in (10.0, 20.0, 30.0, 40.0):
        stats.record(ms, None)
    assert (stats.percentile_ms(50), stats.percentile_ms(95), stats.percentile_ms(100)) == (20.0, 40.0, 40.0)
    assert EndpointStats("u", "m").percentile_ms(50) is None


async def test_admins_see_what_the_gateway_saw_of_each_endpoint_and_raters_do_not(
    client: httpx.AsyncClient, auth: dict[str, str], state: object, fake: FakeOpenAIServer
) -> None:
    from tests.factories import create_endpoint, create_variant, make_user

    endpoint = await create_endpoint(client, auth, name="echoing", base_url=fake.base_url, model="echo", api_key=KEY)
    variant = await create_variant(client, auth, endpoint["id"], name="echo")
    asked = await client.post("/api/v1/comparisons", json={"query": "hi", "variant_ids": [variant["id"]]}, headers=auth)
    assert asked.status_code == 201 and KEY not in asked.text
    calls = (await client.get("/api/v1/model-calls", headers=auth)).json()
    seen = next(c for c in calls if c["model"] == "echo")
    assert (seen["base_url"], seen["calls"], seen["errors"]) == (fake.base_url, 1, 0) and seen["p50_ms"] > 0
    rater = await make_user(state, "rae", "rater")
    assert (await client.get("/api/v1/model-calls", headers=rater)).status_code == 403
