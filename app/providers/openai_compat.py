"""OpenAI-compatible chat completions (OpenAI, vLLM, Ollama, llama.cpp server, our bundled model)."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

import httpx

from app.providers.base import ChatRequest, ChatResult, EndpointConfig, ProviderError
from app.providers.retry import Sleep, open_stream, read_with_timeout, timeout_for
from app.providers.sse import iter_sse_data


def to_openai_payload(
    endpoint: EndpointConfig, request: ChatRequest, *, stream: bool, usage: bool = True
) -> dict[str, Any]:
    """The JSON body for POST /chat/completions."""
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
    if stream and usage:
        payload["stream_options"] = {"include_usage": True}
    return payload


def openai_headers(endpoint: EndpointConfig) -> dict[str, str]:
    headers = {"Accept": "application/json"}
    if endpoint.api_key:
        headers["Authorization"] = f"Bearer {endpoint.api_key}"
    return headers


def parse_openai_response(body: dict[str, Any], *, fallback_model: str = "") -> ChatResult:
    """A non-streamed chat.completion -> ChatResult."""
    try:
        choice = body["choices"][0]
        text = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ProviderError(f"unexpected response shape: {str(body)[:200]}") from exc
    usage = body.get("usage") or {}
    return ChatResult(
        text=text,
        model=body.get("model") or fallback_model,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        finish_reason=choice.get("finish_reason"),
    )


@dataclass
class OpenAIStreamState:
    """Accumulates chat.completion.chunk events."""

    parts: list[str] = field(default_factory=list)
    model: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None

    def feed(self, chunk: dict[str, Any]) -> str:
        """Apply one chunk; returns the text delta it carried ("" if none)."""
        if error := chunk.get("error"):
            message = error.get("message") if isinstance(error, dict) else str(error)
            raise ProviderError(f"stream error: {message}")
        self.model = chunk.get("model") or self.model
        if usage := chunk.get("usage"):
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

    def result(self, fallback_model: str, ttft_ms: float | None) -> ChatResult:
        return ChatResult(
            text="".join(self.parts),
            model=self.model or fallback_model,
            prompt_tokens=self.prompt_tokens,
            completion_tokens=self.completion_tokens,
            ttft_ms=ttft_ms,
            finish_reason=self.finish_reason,
        )


class OpenAICompatProvider:
    kind: ClassVar[str] = "openai"
    supports_streaming: ClassVar[bool] = True

    def __init__(self, client: httpx.AsyncClient, *, sleep: Sleep = asyncio.sleep):
        self._client = client
        self._sleep = sleep

    async def chat(self, endpoint: EndpointConfig, request: ChatRequest) -> ChatResult:
        """Stream the completion (for time to first token); retry once without stream_options if refused."""
        try:
            return await self._stream(endpoint, request, usage=True)
        except ProviderError as exc:
            # Some servers reject the OpenAI stream_options extension; usage is then simply unknown.
            if exc.status_code == 400 and "stream_options" in str(exc):
                return await self._stream(endpoint, request, usage=False)
            raise

    async def _stream(self, endpoint: EndpointConfig, request: ChatRequest, *, usage: bool) -> ChatResult:
        http_request = self._client.build_request(
            "POST",
            f"{endpoint.base_url.rstrip('/')}/chat/completions",
            json=to_openai_payload(endpoint, request, stream=True, usage=usage),
            headers=openai_headers(endpoint) | {"Accept": "text/event-stream"},
            timeout=timeout_for(endpoint),
        )
        started = time.perf_counter()
        ttft_ms: float | None = None
        state = OpenAIStreamState()
        async with open_stream(self._client, endpoint, http_request, sleep=self._sleep) as response:
            if "text/event-stream" not in response.headers.get("content-type", ""):
                # A server that ignored stream=true answered with one JSON body.
                body = json.loads(await response.aread())
                result = parse_openai_response(body, fallback_model=endpoint.model)
                elapsed = (time.perf_counter() - started) * 1000
                return ChatResult(**{**result.__dict__, "ttft_ms": round(elapsed, 1)})
            async for _event, data in iter_sse_data(read_with_timeout(response.aiter_lines(), endpoint)):
                if data.strip() == "[DONE]":
                    break
                try:
                    chunk = json.loads(data)
                except json.JSONDecodeError as exc:
                    raise ProviderError(f"malformed stream chunk: {data[:120]}") from exc
                if state.feed(chunk) and ttft_ms is None:
                    ttft_ms = round((time.perf_counter() - started) * 1000, 1)
        return state.result(endpoint.model, ttft_ms)

    async def list_models(self, endpoint: EndpointConfig) -> list[str]:
        request = self._client.build_request(
            "GET",
            f"{endpoint.base_url.rstrip('/')}/models",
            headers=openai_headers(endpoint),
            timeout=timeout_for(endpoint),
        )
        async with open_stream(self._client, endpoint, request, sleep=self._sleep) as response:
            body = json.loads(await response.aread())
        return [str(m.get("id")) for m in body.get("data", []) if isinstance(m, dict)]
