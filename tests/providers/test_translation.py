"""Request/response translation for both API families, over httpx.MockTransport (no network)."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from app.providers.anthropic import AnthropicProvider, parse_anthropic_response, to_anthropic_payload
from app.providers.base import ChatMessage, ChatRequest, EndpointConfig, ProviderError
from app.providers.openai_compat import OpenAICompatProvider, parse_openai_response, to_openai_payload

OPENAI = EndpointConfig(
    kind="openai", base_url="https://api.example.test/v1", model="gpt-x", api_key="sk-SECRET-1"
)
ANTHROPIC = EndpointConfig(
    kind="anthropic", base_url="https://anthropic.example.test", model="claude-x", api_key="sk-ant-SECRET-2"
)
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


def sse(events: list[dict[str, object] | str], *, named: bool = False) -> bytes:
    lines = []
    for event in events:
        if isinstance(event, str):
            lines.append(f"data: {event}\n\n")
        else:
            prefix = f"event: {event['type']}\n" if named else ""
            lines.append(f"{prefix}data: {json.dumps(event)}\n\n")
    return "".join(lines).encode()


def client_for(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def no_sleep(_seconds: float) -> None:
    return None


def test_openai_payload() -> None:
    payload = to_openai_payload(OPENAI, REQUEST, stream=True)
    assert payload["model"] == "gpt-x"
    assert payload["messages"][0] == {"role": "system", "content": "Be brief."}
    assert [m["role"] for m in payload["messages"]] == ["system", "user", "assistant", "user"]
    assert payload["max_tokens"] == 50 and payload["stop"] == ["END"] and payload["stream"] is True
    assert payload["stream_options"] == {"include_usage": True}
    assert "stream_options" not in to_openai_payload(OPENAI, REQUEST, stream=False)


def test_openai_response_parsing() -> None:
    body = {
        "model": "gpt-x-2024",
        "choices": [{"message": {"role": "assistant", "content": "hello"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 3},
    }
    result = parse_openai_response(body)
    assert (result.text, result.model, result.prompt_tokens, result.completion_tokens) == (
        "hello",
        "gpt-x-2024",
        12,
        3,
    )
    with pytest.raises(ProviderError):
        parse_openai_response({"unexpected": True})


async def test_openai_stream_translation_and_auth_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        chunks: list[dict[str, object] | str] = [
            {"model": "gpt-x", "choices": [{"delta": {"role": "assistant", "content": ""}}]},
            {"model": "gpt-x", "choices": [{"delta": {"content": "Hel"}}]},
            {"model": "gpt-x", "choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}]},
            {"model": "gpt-x", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}},
            "[DONE]",
        ]
        return httpx.Response(200, content=sse(chunks), headers={"content-type": "text/event-stream"})

    async with client_for(handler) as http:
        result = await OpenAICompatProvider(http).chat(OPENAI, REQUEST)
    assert result.text == "Hello"
    assert (result.prompt_tokens, result.completion_tokens, result.finish_reason) == (9, 2, "stop")
    assert result.ttft_ms is not None and result.ttft_ms >= 0
    assert seen[0].url == "https://api.example.test/v1/chat/completions"
    assert seen[0].headers["authorization"] == "Bearer sk-SECRET-1"
    assert json.loads(seen[0].content)["messages"][-1] == {"role": "user", "content": "q2"}


async def test_openai_without_key_sends_no_auth_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        body = {"choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}]}
        return httpx.Response(200, json=body)  # a server that ignores stream=true

    keyless = EndpointConfig(kind="openai", base_url="http://127.0.0.1:11434/v1", model="llama3.2")
    async with client_for(handler) as http:
        result = await OpenAICompatProvider(http).chat(keyless, REQUEST)
    assert result.text == "ok"
    assert "authorization" not in seen[0].headers


async def test_openai_retries_once_without_stream_options_when_refused() -> None:
    bodies: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        if "stream_options" in body:
            return httpx.Response(
                400, json={"error": {"message": "Unrecognized request argument: stream_options"}}
            )
        return httpx.Response(
            200,
            content=sse([{"choices": [{"delta": {"content": "hi"}}]}, "[DONE]"]),
            headers={"content-type": "text/event-stream"},
        )

    async with client_for(handler) as http:
        result = await OpenAICompatProvider(http, sleep=no_sleep).chat(OPENAI, REQUEST)
    assert result.text == "hi" and result.prompt_tokens is None
    assert len(bodies) == 2


async def test_errors_are_clear_and_never_contain_the_key() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "Incorrect API key provided"}})

    async with client_for(handler) as http:
        with pytest.raises(ProviderError) as caught:
            await OpenAICompatProvider(http, sleep=no_sleep).chat(OPENAI, REQUEST)
    message = str(caught.value)
    assert "401" in message and "api.example.test" in message
    assert "SECRET" not in message
    assert caught.value.status_code == 401 and not caught.value.retryable


async def test_stream_error_chunk_becomes_provider_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            content=sse([{"error": {"message": "overloaded"}}]),
            headers={"content-type": "text/event-stream"},
        )

    async with client_for(handler) as http:
        with pytest.raises(ProviderError, match="overloaded"):
            await OpenAICompatProvider(http).chat(OPENAI, REQUEST)


def test_anthropic_payload_moves_system_and_merges_turns() -> None:
    request = ChatRequest(
        messages=[
            ChatMessage("system", "S1"),
            ChatMessage("system", "S2"),
            ChatMessage("user", "a"),
            ChatMessage("user", "b"),
            ChatMessage("assistant", "c"),
        ],
        temperature=1.5,
        max_tokens=64,
        stop=["END"],
    )
    payload = to_anthropic_payload(ANTHROPIC, request, stream=True)
    assert payload["system"] == "S1\n\nS2"
    assert payload["messages"] == [
        {"role": "user", "content": "a\n\nb"},
        {"role": "assistant", "content": "c"},
    ]
    assert (
        payload["max_tokens"] == 64 and payload["temperature"] == 1.0 and payload["stop_sequences"] == ["END"]
    )


def test_anthropic_response_parsing() -> None:
    body = {
        "model": "claude-x",
        "stop_reason": "end_turn",
        "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}],
        "usage": {"input_tokens": 20, "output_tokens": 4},
    }
    result = parse_anthropic_response(body)
    assert (result.text, result.prompt_tokens, result.completion_tokens, result.finish_reason) == (
        "Hi there",
        20,
        4,
        "end_turn",
    )
    with pytest.raises(ProviderError):
        parse_anthropic_response({"type": "error", "error": {"message": "bad"}})


async def test_anthropic_stream_translation_and_headers() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        events: list[dict[str, object] | str] = [
            {
                "type": "message_start",
                "message": {"model": "claude-x", "usage": {"input_tokens": 25, "output_tokens": 1}},
            },
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "ping"},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Twenty"}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "-two"}},
            {"type": "content_block_stop", "index": 0},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 6}},
            {"type": "message_stop"},
        ]
        return httpx.Response(
            200, content=sse(events, named=True), headers={"content-type": "text/event-stream"}
        )

    async with client_for(handler) as http:
        result = await AnthropicProvider(http).chat(ANTHROPIC, REQUEST)
    assert result.text == "Twenty-two"
    assert (result.prompt_tokens, result.completion_tokens, result.finish_reason) == (25, 6, "end_turn")
    assert seen[0].url == "https://anthropic.example.test/v1/messages"
    assert seen[0].headers["x-api-key"] == "sk-ant-SECRET-2"
    assert seen[0].headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in seen[0].headers


async def test_anthropic_overloaded_529_is_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return httpx.Response(
                529, json={"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
            )
        events: list[dict[str, object] | str] = [
            {"type": "content_block_delta", "delta": {"type": "text_delta", "text": "ok"}},
            {"type": "message_stop"},
        ]
        return httpx.Response(
            200, content=sse(events, named=True), headers={"content-type": "text/event-stream"}
        )

    async with client_for(handler) as http:
        result = await AnthropicProvider(http, sleep=no_sleep).chat(ANTHROPIC, REQUEST)
    assert result.text == "ok" and calls == 2
