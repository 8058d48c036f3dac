"""Anthropic Messages API, streamed."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from app.providers.base import ChatMessage, ChatRequest, ChatResult, DeltaSink, EndpointConfig, ProviderError
from app.providers.openai_compat import model_ids
from app.providers.redaction import api_error_message, short_reason
from app.providers.retry import Sleep, build_request, open_stream, redact_error, send_json
from app.providers.sse import StreamState, read_chat_stream

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"


def merged_turns(messages: list[ChatMessage]) -> list[dict[str, str]]:
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


def to_anthropic_payload(endpoint: EndpointConfig, request: ChatRequest, stream: bool) -> dict[str, Any]:
    """The JSON body for POST /v1/messages: system prompts go to the top-level `system` field."""
    turns = merged_turns(request.messages)
    if not turns:
        raise ProviderError(
            "Anthropic needs at least one user or assistant message besides the system prompt"
        )
    payload: dict[str, Any] = {
        "model": endpoint.model,
        "messages": turns,
        "max_tokens": request.max_tokens,  # required by this API
        "temperature": min(max(request.temperature, 0.0), 1.0),  # Anthropic's range is 0-1
        "stream": stream,
    }
    # Recent models refuse temperature and top_p together, so top_p goes only when it narrows anything.
    if request.top_p < 1.0:
        payload["top_p"] = request.top_p
    if system := "\n\n".join(m.content for m in request.messages if m.role == "system"):
        payload["system"] = system
    if request.stop:
        payload["stop_sequences"] = list(request.stop)
    return payload


def anthropic_headers(endpoint: EndpointConfig, *, stream: bool = False) -> dict[str, str]:
    """Request headers: x-api-key (when set) and the pinned API version."""
    headers = {
        "anthropic-version": ANTHROPIC_VERSION,
        "Accept": "text/event-stream" if stream else "application/json",
    }
    if endpoint.api_key:
        headers["x-api-key"] = endpoint.api_key
    return headers


def _error_text(error: Any) -> str:
    """The reason an API error gives (with its type), never its raw body."""
    message = api_error_message({"error": error}) or "no reason given"
    kind = error.get("type") if isinstance(error, dict) else None
    return f"{message} ({short_reason(kind, 60)})" if isinstance(kind, str) and kind != message else message


def parse_anthropic_response(body: Any, *, fallback_model: str = "") -> ChatResult:
    """A non-streamed Message -> ChatResult (text blocks joined)."""
    if not isinstance(body, dict):
        raise ProviderError("unexpected response shape: not a Messages API answer")
    if body.get("type") == "error":
        raise ProviderError(f"API error: {_error_text(body.get('error', body))}")
    content = body.get("content")
    if not isinstance(content, list):
        raise ProviderError("unexpected response shape: not a Messages API answer")
    usage = body.get("usage") or {}
    return ChatResult(
        text="".join(
            str(b.get("text", "")) for b in content if isinstance(b, dict) and b.get("type") == "text"
        ),
        model=body.get("model") or fallback_model,
        prompt_tokens=usage.get("input_tokens"),
        completion_tokens=usage.get("output_tokens"),
        finish_reason=body.get("stop_reason"),
    )


@dataclass
class AnthropicStreamState(StreamState):
    """Accumulates Messages stream events into one result."""

    unit: ClassVar[str] = "event"

    def apply(self, event: dict[str, Any]) -> str:
        """Apply one parsed event; returns the text delta it carried ("" if none)."""
        kind = event.get("type")
        if kind == "error":
            # e.g. overloaded_error after the 200: bytes were consumed, so this is final, not retried.
            raise ProviderError(f"stream error: {_error_text(event.get('error', event))}")
        if kind == "message_start":
            message = event.get("message") or {}
            self.model = message.get("model") or self.model
            self._usage(message.get("usage"))
        elif kind == "content_block_delta":
            delta = event.get("delta") or {}
            if delta.get("type") == "text_delta" and delta.get("text"):
                self.parts.append(str(delta["text"]))
                return str(delta["text"])
        elif kind == "message_delta":
            self.finish_reason = (event.get("delta") or {}).get("stop_reason") or self.finish_reason
            self._usage(event.get("usage"))
        elif kind == "message_stop":
            self.finished = True
        return ""

    def _usage(self, usage: Any) -> None:
        # message_delta's counts are cumulative, so the latest value wins.
        if isinstance(usage, dict):
            self.prompt_tokens = usage.get("input_tokens", self.prompt_tokens)
            self.completion_tokens = usage.get("output_tokens", self.completion_tokens)


def api_root(endpoint: EndpointConfig) -> str:
    """The host root the /v1 paths hang off; a pasted `.../v1` or `.../v1/messages` is tolerated."""
    root = (endpoint.base_url or DEFAULT_BASE_URL).strip().rstrip("/")
    return root.removesuffix("/messages").removesuffix("/v1")


class AnthropicProvider:
    """Anthropic's Messages API (base_url defaults to https://api.anthropic.com)."""

    kind: ClassVar[str] = "anthropic"
    supports_streaming: ClassVar[bool] = True

    def __init__(self, client: httpx.AsyncClient, *, sleep: Sleep = asyncio.sleep):
        self._client = client
        self._sleep = sleep

    async def chat(
        self, endpoint: EndpointConfig, request: ChatRequest, on_delta: DeltaSink | None = None
    ) -> ChatResult:
        """Stream one message (for time to first token) from POST {base_url}/v1/messages."""
        try:
            http_request = build_request(
                self._client,
                endpoint,
                "POST",
                api_root(endpoint),
                "v1/messages",
                headers=anthropic_headers(endpoint, stream=True),
                payload=to_anthropic_payload(endpoint, request, stream=True),
            )
            started = time.perf_counter()
            async with open_stream(self._client, endpoint, http_request, sleep=self._sleep) as response:
                return await read_chat_stream(
                    response,
                    endpoint,
                    AnthropicStreamState(),
                    started=started,
                    parse_body=lambda body: parse_anthropic_response(body, fallback_model=endpoint.model),
                    on_delta=on_delta,
                )
        except ProviderError as exc:
            raise redact_error(exc, endpoint) from exc.__cause__

    async def list_models(self, endpoint: EndpointConfig) -> list[str]:
        """Model ids from GET {base_url}/v1/models (one page of up to 1000)."""
        request = build_request(
            self._client,
            endpoint,
            "GET",
            api_root(endpoint),
            "v1/models",
            headers=anthropic_headers(endpoint),
            params={"limit": "1000"},
        )
        try:
            return model_ids(await send_json(self._client, endpoint, request, sleep=self._sleep))
        except ProviderError as exc:
            raise redact_error(exc, endpoint) from exc.__cause__
