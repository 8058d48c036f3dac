"""The one model interface: a chat call against an endpoint, plus the registry of adapters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Protocol

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class ChatMessage:
    role: Role
    content: str


@dataclass(frozen=True)
class EndpointConfig:
    """What a provider needs to reach one model: decrypted key, never persisted in this form."""

    kind: str
    base_url: str
    model: str
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 2
    # The bundled model server this process runs (a loopback URL the outbound-URL policy would refuse).
    bundled: bool = False


@dataclass(frozen=True)
class ChatRequest:
    messages: list[ChatMessage]
    temperature: float = 0.2
    max_tokens: int = 256
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ChatResult:
    """A finished completion with what the endpoint reported about it."""

    text: str
    model: str
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    ttft_ms: float | None = None
    finish_reason: str | None = None
    # Time the request waited in the server's queue before the model began, when the server reports it
    # (the bundled server does, in X-Queue-Ms); included in ttft_ms as measured here.
    queue_ms: float | None = None


# Receives each piece of answer text as the model streams it.
DeltaSink = Callable[[str], None]


class ProviderError(Exception):
    """A model call failed; the message is safe to show and store (never contains the key)."""

    def __init__(self, message: str, *, status_code: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status_code = status_code
        self.retryable = retryable


class Provider(Protocol):
    """An adapter for one API family; stateless apart from the shared HTTP client."""

    kind: ClassVar[str]
    supports_streaming: ClassVar[bool]

    async def chat(
        self, endpoint: EndpointConfig, request: ChatRequest, on_delta: DeltaSink | None = None
    ) -> ChatResult:
        """Run one chat completion, streamed: each text delta goes to `on_delta` as it arrives (and gives the
        time to first token). Called only by the model gateway (app/providers/gateway.py)."""
        ...

    async def list_models(self, endpoint: EndpointConfig) -> list[str]:
        """Model ids the endpoint serves (used to check a connection)."""
        ...
