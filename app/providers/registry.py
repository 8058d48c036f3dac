"""The provider registry: adapters by kind, no if-chains."""

from __future__ import annotations

import httpx

from app.providers.anthropic import AnthropicProvider
from app.providers.base import Provider
from app.providers.openai_compat import OpenAICompatProvider


class ProviderRegistry:
    def __init__(self) -> None:
        self._providers: dict[str, Provider] = {}

    def register(self, provider: Provider) -> None:
        self._providers[provider.kind] = provider

    def get(self, kind: str) -> Provider:
        try:
            return self._providers[kind]
        except KeyError:
            raise KeyError(
                f"no provider for endpoint kind {kind!r}; known: {', '.join(self.kinds())}"
            ) from None

    def kinds(self) -> list[str]:
        return sorted(self._providers)


def build_registry(client: httpx.AsyncClient) -> ProviderRegistry:
    """Both adapters sharing the app's one HTTP client."""
    registry = ProviderRegistry()
    registry.register(OpenAICompatProvider(client))
    registry.register(AnthropicProvider(client))
    return registry
