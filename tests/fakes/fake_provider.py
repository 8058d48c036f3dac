"""A fake provider for unit tests, in the style of simonw/llm's fake model: queue answers with `enqueue()`,
read what was asked in `.requests`. No network at all (the loopback FakeOpenAIServer covers the HTTP path).

    fake = FakeProvider()
    state.gateway.providers.register(fake, replace=True)   # answers every endpoint of kind "openai"
    fake.enqueue("Paris", ProviderError("quota"))  # the next two calls: an answer, then a failure
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar

from app.providers.base import ChatRequest, ChatResult, DeltaSink, EndpointConfig, ProviderError


@dataclass(frozen=True)
class Call:
    endpoint: EndpointConfig
    request: ChatRequest


class FakeProvider:
    """Answers from a queue, in order; an empty queue is a test mistake and says so."""

    supports_streaming: ClassVar[bool] = False

    def __init__(self, kind: str = "openai") -> None:
        self.kind = kind  # type: ignore[misc]  # the Provider protocol's ClassVar, set per instance here
        self._answers: deque[str | ChatResult | ProviderError] = deque()
        self.requests: list[Call] = []

    def enqueue(self, *answers: str | ChatResult | ProviderError) -> None:
        """Texts (or whole results) to answer with, or errors to raise, one per call."""
        self._answers.extend(answers)

    async def chat(
        self, endpoint: EndpointConfig, request: ChatRequest, on_delta: DeltaSink | None = None
    ) -> ChatResult:
        self.requests.append(Call(endpoint, request))
        if not self._answers:
            raise AssertionError("FakeProvider was called with nothing enqueued")
        answer = self._answers.popleft()
        if isinstance(answer, ProviderError):
            raise answer
        if isinstance(answer, ChatResult):
            if on_delta is not None and answer.text:
                on_delta(answer.text)
            return answer
        if on_delta is not None:
            on_delta(answer)
        words = len(answer.split())
        prompt = sum(len(m.content.split()) for m in request.messages)
        return ChatResult(text=answer, model=endpoint.model, prompt_tokens=prompt, completion_tokens=words)

    async def list_models(self, endpoint: EndpointConfig) -> list[str]:
        return [endpoint.model]
