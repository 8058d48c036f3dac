"""Anthropic Messages translation: pure payload/response/event functions, then the adapter over MockTransport."""

from __future__ import annotations

import json

import httpx
import pytest

from app.providers.anthropic import (
    AnthropicProvider,
    AnthropicStreamState,
    parse_anthropic_response,
    to_anthropic_payload,
)
from app.providers.base import ChatMessage, ChatRequest, EndpointConfig, ProviderError
from tests.fakes import RecordingSleep, mock_client, no_sleep, sse_response

KEY = "sk-ant-SECRET-0123456789"
ANTHROPIC = EndpointConfig(
    kind="anthropic", base_url="https://anthropic.example.test", model="claude-x", api_key=KEY
)
REQUEST = ChatRequest(
    messages=[ChatMessage("system", "Be brief."), ChatMessage("user", "How many days?")], max_tokens=64
)
EVENTS: list[dict[str, object] | str] = [
    {
        "type": "message_start",
        "message": {"model": "claude-x-2025", "usage": {"input_tokens": 25, "output_tokens": 1}},
    },
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "ping"},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Twenty"}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "-two"}},
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 6}},
    {"type": "message_stop"},
]


def test_payload_moves_system_prompts_and_merges_turns() -> None:
    request = ChatRequest(
        messages=[
            ChatMessage("system", "S1"),
            ChatMessage("user", "a"),
            ChatMessage("system", "S2"),
            ChatMessage("user", "b"),
            ChatMessage("assistant", "c"),
            ChatMessage("assistant", "d"),
            ChatMessage("user", "e"),
        ],
        temperature=1.5,
        max_tokens=64,
        stop=["END"],
    )
    payload = to_anthropic_payload(ANTHROPIC, request, True)
    assert payload["system"] == "S1\n\nS2"
    assert payload["messages"] == [
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c\n\nd"},
        {"role": "user", "content": "e"},
    ]
    assert payload["max_tokens"] == 64 and payload["stream"] is True
    assert payload["temperature"] == 1.0  # clamped to Anthropic's 0-1
    assert payload["stop_sequences"] == ["END"]
    assert "top_p" not in payload  # sent only when it narrows sampling


def test_payload_minimal_and_top_p() -> None:
    request = ChatRequest(messages=[ChatMessage("user", "hi")], top_p=0.9)
    payload = to_anthropic_payload(ANTHROPIC, request, stream=False)
    assert "system" not in payload and "stop_sequences" not in payload
    assert payload["top_p"] == 0.9 and payload["max_tokens"] == 256 and payload["stream"] is False


def test_payload_needs_a_conversation_turn() -> None:
    with pytest.raises(ProviderError, match="at least one user"):
        to_anthropic_payload(ANTHROPIC, ChatRequest(messages=[ChatMessage("system", "only")]), True)


def test_response_parsing() -> None:
    body = {
        "type": "message",
        "model": "claude-x",
        "stop_reason": "max_tokens",
        "content": [
            {"type": "text", "text": "Hi "},
            {"type": "tool_use", "id": "t", "name": "n", "input": {}},
            {"type": "text", "text": "there"},
        ],
        "usage": {"input_tokens": 20, "output_tokens": 4},
    }
    result = parse_anthropic_response(body)
    assert (
        result.text,
        result.model,
        result.prompt_tokens,
        result.completion_tokens,
        result.finish_reason,
    ) == (
        "Hi there",
        "claude-x",
        20,
        4,
        "max_tokens",
    )


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, "Overloaded"),
        ({"content": "not a list"}, "unexpected response shape"),
        ("text", "unexpected response shape"),
    ],
)
def test_response_parsing_errors(body: object, match: str) -> None:
    with pytest.raises(ProviderError, match=match):
        parse_anthropic_response(body)


def test_stream_state_reads_usage_text_and_stop_reason() -> None:
    state = AnthropicStreamState()
    deltas = [state.feed(json.dumps(e)) for e in EVENTS]
    assert [d for d in deltas if d] == ["Twenty", "-two"]
    assert state.finished
    result = state.result("fallback", ttft_ms=3.0)
    assert (result.text, result.model, result.finish_reason) == ("Twenty-two", "claude-x-2025", "end_turn")
    assert (result.prompt_tokens, result.completion_tokens) == (25, 6)


def test_stream_error_event() -> None:
    state = AnthropicStreamState()
    with pytest.raises(ProviderError, match=r"stream error: Overloaded \(overloaded_error\)"):
        state.apply({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})
    with pytest.raises(ProviderError, match="malformed stream event"):
        state.feed("nope")


async def test_streamed_chat_over_http_with_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return sse_response(EVENTS, named=True)

    async with mock_client(handler) as http:
        result = await AnthropicProvider(http).chat(ANTHROPIC, REQUEST)
    assert result.text == "Twenty-two" and result.model == "claude-x-2025"
    assert (result.prompt_tokens, result.completion_tokens, result.finish_reason) == (25, 6, "end_turn")
    assert result.ttft_ms is not None and result.ttft_ms >= 0
    sent = seen[0]
    assert str(sent.url) == "https://anthropic.example.test/v1/messages"
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    body = json.loads(sent.content)
    assert body["system"] == "Be brief." and body["stream"] is True and body["max_tokens"] == 64


@pytest.mark.parametrize(
    "base_url",
    ["", "https://api.anthropic.com", "https://api.anthropic.com/", "https://api.anthropic.com/v1"],
)
async def test_default_and_pasted_base_urls(base_url: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return sse_response(EVENTS, named=True)

    endpoint = EndpointConfig(kind="anthropic", base_url=base_url, model="claude-x", api_key=KEY)
    async with mock_client(handler) as http:
        await AnthropicProvider(http).chat(endpoint, REQUEST)
    assert seen == ["https://api.anthropic.com/v1/messages"]


async def test_overloaded_529_is_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            return httpx.Response(529, json=error, headers={"retry-after": "2"})
        return sse_response(EVENTS, named=True)

    sleep = RecordingSleep()
    async with mock_client(handler) as http:
        result = await AnthropicProvider(http, sleep=sleep).chat(ANTHROPIC, REQUEST)
    assert result.text == "Twenty-two" and calls == 2 and sleep.delays == [2.0]


async def test_errors_are_clear_and_never_contain_the_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        sent = request.headers["x-api-key"]
        error = {
            "type": "error",
            "error": {"type": "authentication_error", "message": f"invalid x-api-key {sent}"},
        }
        return httpx.Response(401, json=error)

    async with mock_client(handler) as http:
        with pytest.raises(ProviderError) as caught:
            await AnthropicProvider(http, sleep=no_sleep).chat(ANTHROPIC, REQUEST)
    assert str(caught.value) == "HTTP 401 from anthropic.example.test: invalid x-api-key ***"
    assert caught.value.status_code == 401


async def test_mid_stream_error_event_is_final() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return sse_response(
            [*EVENTS[:4], {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}],
            named=True,
        )

    async with mock_client(handler) as http:
        with pytest.raises(ProviderError, match="Overloaded"):
            await AnthropicProvider(http, sleep=no_sleep).chat(ANTHROPIC, REQUEST)
    assert calls == 1


async def test_unstreamed_json_answer_is_accepted() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        body = {"content": [{"type": "text", "text": "ok"}], "usage": {"input_tokens": 3, "output_tokens": 1}}
        return httpx.Response(200, json=body)

    async with mock_client(handler) as http:
        result = await AnthropicProvider(http).chat(ANTHROPIC, REQUEST)
    assert (result.text, result.model, result.prompt_tokens) == ("ok", "claude-x", 3)


async def test_list_models() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [{"id": "claude-a", "type": "model"}], "has_more": False})

    async with mock_client(handler) as http:
        assert await AnthropicProvider(http).list_models(ANTHROPIC) == ["claude-a"]
    assert seen[0].url.path == "/v1/models" and seen[0].url.params["limit"] == "1000"
    assert seen[0].headers["x-api-key"] == KEY
