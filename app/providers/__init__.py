"""Model providers: one interface (base.Provider), adapters by kind in a registry."""

from app.providers.base import (
    ChatMessage,
    ChatRequest,
    ChatResult,
    EndpointConfig,
    Provider,
    ProviderError,
)
from app.providers.registry import ProviderRegistry, UnknownProviderKind, build_registry

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "EndpointConfig",
    "Provider",
    "ProviderError",
    "ProviderRegistry",
    "UnknownProviderKind",
    "build_registry",
]
