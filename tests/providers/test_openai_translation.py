"""OpenAI-compatible translation: pure payload/response/chunk functions, then the adapter over MockTransport."""

from __future__ import annotations

import json

import httpx
import pytest

from app.providers.base import ChatMessage, ChatRequest, EndpointConfig, ProviderError
from app.providers.openai_compat import (
    OpenAICompatProvider,
    OpenAIStreamState,
    downgrade_payload,
    parse_openai_response,
    to_openai_payload,
)
from tests.fakes import mock_client, no_sleep, sse_response

KEY = "sk-SECRET-0123456789"
OPENAI = EndpointConfig(kind="openai", base_url="https://api.example.test/v1", model="gpt-x", api_key=KEY)
LOCAL = EndpointConfig(kind="openai", base_url="http://127.0.0.1:11434/v1", model="llama3.2")
REQUEST = ChatRequest(
    messages=[
        ChatMessage("system", "Be brief."),
        ChatMessage("user", "q1"),
        ChatMessage("assistant", "a1"),
        ChatMessage("user", "q2"),
    ],
    temperature=0.3,
    max_tokens=50,
    stop=["END"],
)
CHUNKS: list[dict[str, object] | str] = [
    {"model": "gpt-x-0613", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"model": "gpt-x-0613", "choices": [{"index": 0, "delta": {"content": "Hel"}}]},
    {"model": "gpt-x-0613", "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": None}]},
    {"model": "gpt-x-0613", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
    {"model": "gpt-x-0613", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}},
    "[DONE]",
]


def test_payload_keeps_roles_and_decoding() -> None:
    payload = to_openai_payload(OPENAI, REQUEST, stream=True)
    assert payload["model"] == "gpt-x"
    assert payload["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "q2"},
    ]
    assert (payload["temperature"], payload["top_p"], payload["max_tokens"]) == (0.3, 1.0, 50)
    assert payload["stop"] == ["END"] and payload["stream"] is True
    assert payload["stream_options"] == {"include_usage": True}


def test_payload_without_stream_or_usage_has_no_stream_options() -> None:
    assert "stream_options" not in to_openai_payload(OPENAI, REQUEST, False)
    assert "stream_options" not in to_openai_payload(OPENAI, REQUEST, True, include_usage=False)
    assert "stop" not in to_openai_payload(OPENAI, ChatRequest([ChatMessage("user", "x")]), True)


def test_response_parsing() -> None:
    body = {
        "model": "gpt-x-2024",
        "choices": [{"message": {"role": "assistant", "content": "hello"}, "finish_reason": "length"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3},
    }
    result = parse_openai_response(body)
    assert (
        result.text,
        result.model,
        result.prompt_tokens,
        result.completion_tokens,
        result.finish_reason,
    ) == (
        "hello",
        "gpt-x-2024",
        12,
        3,
        "length",
    )
    bare = parse_openai_response({"choices": [{"message": {"content": None}}]}, fallback_model="m")
    assert (bare.text, bare.model, bare.prompt_tokens) == ("", "m", None)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"unexpected": True}, "unexpected response shape"),
        ({"choices": []}, "unexpected response shape"),
        ([1, 2], "unexpected response shape"),
        ({"error": {"message": "model is loading"}}, "API error: model is loading"),
    ],
)
def test_response_parsing_errors(body: object, match: str) -> None:
    with pytest.raises(ProviderError, match=match):
        parse_openai_response(body)


def test_stream_state_accumulates_text_finish_reason_and_usage() -> None:
    state = OpenAIStreamState()
    deltas = [state.feed(c if isinstance(c, str) else json.dumps(c)) for c in CHUNKS]
    assert deltas == ["", "Hel", "lo", "", "", ""]
    assert state.finished
    result = state.result("fallback", ttft_ms=12.5)
    assert (result.text, result.model, result.finish_reason) == ("Hello", "gpt-x-0613", "stop")
    assert (result.prompt_tokens, result.completion_tokens, result.ttft_ms) == (9, 2, 12.5)


def test_stream_state_errors() -> None:
    with pytest.raises(ProviderError, match="stream error: overloaded"):
        OpenAIStreamState().apply({"error": {"message": "overloaded"}})
    with pytest.raises(ProviderError, match="malformed stream chunk"):
        OpenAIStreamState().feed("{not json")


def test_downgrades_only_what_the_server_named() -> None:
    payload = to_openai_payload(OPENAI, REQUEST, stream=True)
    refused_usage = ProviderError("HTTP 400 from h: Unrecognized argument: stream_options", status_code=400)
    assert "stream_options" not in (downgrade_payload(payload, refused_usage) or {})
    refused_max = ProviderError(
        "HTTP 400 from h: Unsupported parameter: 'max_tokens'. Use 'max_completion_tokens' instead.",
        status_code=400,
    )
    renamed = downgrade_payload(payload, refused_max) or {}
    assert "max_tokens" not in renamed and renamed["max_completion_tokens"] == 50
    assert downgrade_payload(payload, ProviderError("HTTP 400 from h: bad", status_code=400)) is None
    assert downgrade_payload(payload, ProviderError("HTTP 500: stream_options", status_code=500)) is None


async def test_streamed_chat_over_http() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return sse_response(CHUNKS)

    async with mock_client(handler) as http:
        result = await OpenAICompatProvider(http).chat(OPENAI, REQUEST)
    assert result.text == "Hello" and result.model == "gpt-x-0613"
    assert (result.prompt_tokens, result.completion_tokens, result.finish_reason) == (9, 2, "stop")
    assert result.ttft_ms is not None and result.ttft_ms >= 0
    sent = seen[0]
    assert sent.method == "POST" and sent.url == "https://api.example.test/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["accept"] == "text/event-stream"
    body = json.loads(sent.content)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["messages"][-1] == {"role": "user", "content": "q2"}


async def test_no_key_no_auth_header_and_unstreamed_answers_are_accepted() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        # A server that ignores stream=true and answers with one JSON body.
        return httpx.Response(
            200, json={"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
        )

    async with mock_client(handler) as http:
        result = await OpenAICompatProvider(http).chat(LOCAL, REQUEST)
    assert (result.text, result.model) == ("ok", "llama3.2")
    assert result.ttft_ms is not None
    assert "authorization" not in seen[0].headers
    assert str(seen[0].url) == "http://127.0.0.1:11434/v1/chat/completions"


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://h:8000/v1/", "http://h:8000/v1/chat/completions"),
        ("http://h:8000/v1/chat/completions", "http://h:8000/v1/chat/completions"),
        (
            "https://gw.test/openai/v1?api-version=2024-10",
            "https://gw.test/openai/v1/chat/completions?api-version=2024-10",
        ),
    ],
)
async def test_base_url_forms(base_url: str, expected: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return sse_response(CHUNKS)

    endpoint = EndpointConfig(kind="openai", base_url=base_url, model="m")
    async with mock_client(handler) as http:
        await OpenAICompatProvider(http).chat(endpoint, REQUEST)
    assert seen == [expected]


async def test_resends_once_without_stream_options_when_refused() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if "stream_options" in body:
            return httpx.Response(
                400, json={"error": {"message": "Unrecognized request argument: stream_options"}}
            )
        return sse_response([{"choices": [{"delta": {"content": "hi"}}]}, "[DONE]"])

    async with mock_client(handler) as http:
        result = await OpenAICompatProvider(http, sleep=no_sleep).chat(OPENAI, REQUEST)
    assert result.text == "hi" and result.prompt_tokens is None
    assert len(bodies) == 2 and "stream_options" not in bodies[1]


async def test_a_second_refusal_is_not_looped_on() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(400, json={"error": {"message": "stream_options and everything else is wrong"}})

    async with mock_client(handler) as http:
        with pytest.raises(ProviderError, match="HTTP 400"):
            await OpenAICompatProvider(http, sleep=no_sleep).chat(OPENAI, REQUEST)
    assert calls == 2


async def test_http_errors_are_clear_and_never_contain_the_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        # Some proxies echo the credential they were sent.
        sent = request.headers["authorization"]
        return httpx.Response(401, json={"error": {"message": f"invalid api key: {sent}"}})

    async with mock_client(handler) as http:
        with pytest.raises(ProviderError) as caught:
            await OpenAICompatProvider(http, sleep=no_sleep).chat(OPENAI, REQUEST)
    assert str(caught.value) == "HTTP 401 from api.example.test: invalid api key: Bearer ***"
    assert caught.value.status_code == 401 and not caught.value.retryable


async def test_stream_errors_never_contain_the_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return sse_response(
            [{"choices": [{"delta": {"content": "par"}}]}, {"error": {"message": f"quota for {KEY} gone"}}]
        )

    async with mock_client(handler) as http:
        with pytest.raises(ProviderError) as caught:
            await OpenAICompatProvider(http).chat(OPENAI, REQUEST)
    assert str(caught.value) == "stream error: quota for *** gone"


async def test_malformed_json_body_is_a_provider_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>gateway</html>", headers={"content-type": "text/html"})

    async with mock_client(handler) as http:
        with pytest.raises(ProviderError, match=r"malformed JSON from api\.example\.test"):
            await OpenAICompatProvider(http).chat(OPENAI, REQUEST)


async def test_list_models() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"object": "list", "data": [{"id": "a"}, {"id": "b"}, {"x": 1}]})

    async with mock_client(handler) as http:
        assert await OpenAICompatProvider(http).list_models(OPENAI) == ["a", "b"]
    assert seen[0].method == "GET" and str(seen[0].url) == "https://api.example.test/v1/models"
    assert seen[0].headers["authorization"] == f"Bearer {KEY}"


async def test_list_models_bad_shape() -> None:
    async with mock_client(lambda request: httpx.Response(200, json=["a"])) as http:
        with pytest.raises(ProviderError, match="unexpected model list shape"):
            await OpenAICompatProvider(http).list_models(OPENAI)
