"""OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, llama.cpp server, our bundled model)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import httpx

from app.providers.base import ChatRequest, ChatResult, DeltaSink, EndpointConfig, ProviderError
from app.providers.redaction import api_error_message
from app.providers.retry import Sleep, build_request, open_stream, redact_error, send_json
from app.providers.sse import StreamState, read_chat_stream


def to_openai_payload(
    endpoint: EndpointConfig, request: ChatRequest, stream: bool, *, include_usage: bool = True
) -> dict[str, Any]:
    """The JSON body for POST {base_url}/chat/completions."""
    payload: dict[str, Any] = {
        "model": endpoint.model,
        "messages": [{"role": m.role, "content": m.content} for m in request.messages],
        "temperature": request.temperature,
        "top_p": request.top_p,
        "max_tokens": request.max_tokens,
        "stream": stream,
    }
    if request.stop:
        payload["stop"] = list(request.stop)
    if stream and include_usage:
        # Without it a stream reports no token counts (and so no cost).
        payload["stream_options"] = {"include_usage": True}
    return payload


def openai_headers(endpoint: EndpointConfig, *, stream: bool = False) -> dict[str, str]:
    """Request headers; Authorization only when a key is set (local servers need none)."""
    headers = {"Accept": "text/event-stream" if stream else "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    return headers


def _error_message(error: Any) -> str:
    """The reason an API error gives, never its raw body."""
    return api_error_message({"error": error}) or "no reason given"


def parse_openai_response(body: Any, *, fallback_model: str = "") -> ChatResult:
    """A non-streamed chat.completion -> ChatResult."""
    if isinstance(body, dict) and body.get("error"):
        raise ProviderError(f"API error: {_error_message(body['error'])}")
    try:
        choice = body["choices"][0]
        text = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ProviderError("unexpected response shape: no choices[0].message in the answer") from None
    usage = body.get("usage") or {}
    return ChatResult(
        text=str(text),
        model=body.get("model") or fallback_model,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        finish_reason=choice.get("finish_reason"),
    )


@dataclass
class OpenAIStreamState(StreamState):
    """Accumulates chat.completion.chunk events (text deltas, finish_reason, the final usage chunk)."""

    unit: ClassVar[str] = "chunk"

    def feed(self, data: str) -> str:
        """`[DONE]` ends the stream; every other payload is a JSON chunk."""
        if data.strip() == "[DONE]":
            self.finished = True
            return ""
        return super().feed(data)

    def apply(self, chunk: dict[str, Any]) -> str:
        """Apply one parsed chunk; returns the text delta it carried ("" if none)."""
        if error := chunk.get("error"):
            # vLLM and others report failures inside the stream, after a 200.
            raise ProviderError(f"stream error: {_error_message(error)}")
        self.model = chunk.get("model") or self.model
        if isinstance(usage := chunk.get("usage"), dict):
            self.prompt_tokens = usage.get("prompt_tokens", self.prompt_tokens)
            self.completion_tokens = usage.get("completion_tokens", self.completion_tokens)
        delta_text = ""
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            delta_text += delta.get("content") or ""
            self.finish_reason = choice.get("finish_reason") or self.finish_reason
        if delta_text:
            self.parts.append(delta_text)
        return delta_text


def downgrade_payload(payload: dict[str, Any], error: ProviderError) -> dict[str, Any] | None:
    """The payload without the parameter a server refused, or None when the refusal is about something else."""
    if error.status_code not in (400, 422):
        return None
    message = str(error).lower()
    if "stream_options" in payload and "stream_options" in message:
        # Older vLLM / llama.cpp / proxies reject the usage extension; token counts are then unknown.
        return {k: v for k, v in payload.items() if k != "stream_options"}
    if "max_tokens" in payload and "max_completion_tokens" in message:
        # OpenAI reasoning models refuse max_tokens and name its replacement in the error.
        rest = {k: v for k, v in payload.items() if k != "max_tokens"}
        return rest | {"max_completion_tokens": payload["max_tokens"]}
    return None


def api_root(endpoint: EndpointConfig) -> str:
    """The API root; a pasted full `.../chat/completions` URL is tolerated."""
    return endpoint.base_url.strip().rstrip("/").removesuffix("/chat/completions")


class OpenAICompatProvider:
    """Any server speaking OpenAI's /chat/completions under a base URL that ends at the API root."""

    kind: ClassVar[str] = "openai"
    supports_streaming: ClassVar[bool] = True

    def __init__(self, client: httpx.AsyncClient, *, sleep: Sleep = asyncio.sleep):
        self._client = client
        self._sleep = sleep

    async def chat(
        self, endpoint: EndpointConfig, request: ChatRequest, on_delta: DeltaSink | None = None
    ) -> ChatResult:
        """Stream the completion (for time to first token); resend once per refused optional parameter (a
        refusal comes before any text, so no delta is ever sent twice)."""
        payload = to_openai_payload(endpoint, request, stream=True)
        while True:  # ends: every downgrade removes a parameter
            try:
                return await self._stream(endpoint, payload, on_delta)
            except ProviderError as exc:
                downgraded = downgrade_payload(payload, exc)
                if downgraded is None:
                    raise
                payload = downgraded

    async def _stream(
        self, endpoint: EndpointConfig, payload: dict[str, Any], on_delta: DeltaSink | None
    ) -> ChatResult:
        http_request = build_request(
            self._client,
            endpoint,
            "POST",
            api_root(endpoint),
            "chat/completions",
            headers=openai_headers(endpoint, stream=True),
            payload=payload,
        )
        started = time.perf_counter()
        try:
            async with open_stream(self._client, endpoint, http_request, sleep=self._sleep) as response:
                return await read_chat_stream(
                    response,
                    endpoint,
                    OpenAIStreamState(),
                    started=started,
                    parse_body=lambda body: parse_openai_response(body, fallback_model=endpoint.model),
                    on_delta=on_delta,
                )
        except ProviderError as exc:
            raise redact_error(exc, endpoint) from exc.__cause__

    async def list_models(self, endpoint: EndpointConfig) -> list[str]:
        """Model ids from GET {base_url}/models."""
        request = build_request(
            self._client, endpoint, "GET", api_root(endpoint), "models", headers=openai_headers(endpoint)
        )
        try:
            return model_ids(await send_json(self._client, endpoint, request, sleep=self._sleep))
        except ProviderError as exc:
            raise redact_error(exc, endpoint) from exc.__cause__


def model_ids(body: Any) -> list[str]:
    """Ids from a `{"data": [{"id": ...}, ...]}` model list (OpenAI and Anthropic share the shape)."""
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list):
        raise ProviderError(f"unexpected model list shape: {str(body)[:200]}")
    return [str(m["id"]) for m in data if isinstance(m, dict) and m.get("id")]
