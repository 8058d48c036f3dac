"""Anthropic Messages API, streamed."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from app.providers.base import ChatMessage, ChatRequest, ChatResult, EndpointConfig, ProviderError
from app.providers.retry import Sleep, open_stream, read_with_timeout, timeout_for
from app.providers.sse import iter_sse_data

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"


def _merged_turns(messages: list[ChatMessage]) -> list[dict[str, str]]:
    """Non-system messages with consecutive same-role turns merged (the API requires alternation)."""
    turns: list[dict[str, str]] = []
    for message in messages:
        if message.role == "system":
            continue
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += "\n\n" + message.content
        else:
            turns.append({"role": message.role, "content": message.content})
    return turns


def to_anthropic_payload(endpoint: EndpointConfig, request: ChatRequest, *, stream: bool) -> dict[str, Any]:
    """The JSON body for POST /v1/messages: system prompts go to the top-level `system` field."""
    system = "\n\n".join(m.content for m in request.messages if m.role == "system")
    payload: dict[str, Any] = {
        "model": endpoint.model,
        "messages": _merged_turns(request.messages),
        "max_tokens": request.max_tokens,
        "temperature": min(request.temperature, 1.0),  # Anthropic's range is 0-1
        "stream": stream,
    }
    if request.top_p < 1.0:
        payload["top_p"] = request.top_p
    if system:
        payload["system"] = system
    if request.stop:
        payload["stop_sequences"] = list(request.stop)
    return payload


def anthropic_headers(endpoint: EndpointConfig) -> dict[str, str]:
    headers = {"anthropic-version": ANTHROPIC_VERSION, "Accept": "application/json"}
    if endpoint.api_key:
        headers["x-api-key"] = endpoint.api_key
    return headers


def parse_anthropic_response(body: dict[str, Any], *, fallback_model: str = "") -> ChatResult:
    """A non-streamed Message -> ChatResult (text blocks joined)."""
    if body.get("type") == "error":
        raise ProviderError(f"API error: {body.get('error', {}).get('message', body)}")
    content = body.get("content")
    if not isinstance(content, list):
        raise ProviderError(f"unexpected response shape: {str(body)[:200]}")
    usage = body.get("usage") or {}
    return ChatResult(
        text="".join(b.get("text", "") for b in content if b.get("type") == "text"),
        model=body.get("model") or fallback_model,
        prompt_tokens=usage.get("input_tokens"),
        completion_tokens=usage.get("output_tokens"),
        finish_reason=body.get("stop_reason"),
    )


@dataclass
class AnthropicStreamState:
    parts: list[str] = field(default_factory=list)
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None

    def feed(self, event: dict[str, Any]) -> str:
        """Apply one stream event; returns the text delta it carried."""
        kind = event.get("type")
        if kind == "error":
            raise ProviderError(f"stream error: {event.get('error', {}).get('message', event)}")
        if kind == "message_start":
            message = event.get("message") or {}
            self.model = message.get("model") or self.model
            usage = message.get("usage") or {}
            self.prompt_tokens = usage.get("input_tokens", self.prompt_tokens)
            self.completion_tokens = usage.get("output_tokens", self.completion_tokens)
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                self.parts.append(delta["text"])
                return str(delta["text"])
        elif kind == "message_delta":
            self.finish_reason = (event.get("delta") or {}).get("stop_reason") or self.finish_reason
            usage = event.get("usage") or {}
            self.completion_tokens = usage.get("output_tokens", self.completion_tokens)
        return ""

    def result(self, fallback_model: str, ttft_ms: float | None) -> ChatResult:
        return ChatResult(
            text="".join(self.parts),
            model=self.model or fallback_model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            ttft_ms=ttft_ms,
            finish_reason=self.finish_reason,
        )


class AnthropicProvider:
    kind: ClassVar[str] = "anthropic"
    supports_streaming: ClassVar[bool] = True

    def __init__(self, client: httpx.AsyncClient, *, sleep: Sleep = asyncio.sleep):
        self._client = client
        self._sleep = sleep

    def _url(self, endpoint: EndpointConfig, path: str) -> str:
        return f"{(endpoint.base_url or DEFAULT_BASE_URL).rstrip('/')}/v1/{path}"

    async def chat(self, endpoint: EndpointConfig, request: ChatRequest) -> ChatResult:
        http_request = self._client.build_request(
            "POST",
            self._url(endpoint, "messages"),
            json=to_anthropic_payload(endpoint, request, stream=True),
            headers=anthropic_headers(endpoint) | {"Accept": "text/event-stream"},
            timeout=timeout_for(endpoint),
        )
        started = time.perf_counter()
        ttft_ms: float | None = None
        state = AnthropicStreamState()
        async with open_stream(self._client, endpoint, http_request, sleep=self._sleep) as response:
            async for _event, data in iter_sse_data(read_with_timeout(response.aiter_lines(), endpoint)):
                try:
                    event = json.loads(data)
                except json.JSONDecodeError as exc:
                    raise ProviderError(f"malformed stream event: {data[:120]}") from exc
                if state.feed(event) and ttft_ms is None:
                    ttft_ms = round((time.perf_counter() - started) * 1000, 1)
                if event.get("type") == "message_stop":
                    break
        return state.result(endpoint.model, ttft_ms)

    async def list_models(self, endpoint: EndpointConfig) -> list[str]:
        request = self._client.build_request(
            "GET",
            self._url(endpoint, "models"),
            headers=anthropic_headers(endpoint),
            timeout=timeout_for(endpoint),
        )
        async with open_stream(self._client, endpoint, request, sleep=self._sleep) as response:
            body = json.loads(await response.aread())
        return [str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict)]
