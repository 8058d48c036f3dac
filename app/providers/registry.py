"""The provider registry: adapters by kind, looked up, never chosen by if-chains."""

from __future__ import annotations

import httpx

from app.providers.anthropic import AnthropicProvider
from app.providers.base import Provider, ProviderError
from app.providers.openai_compat import OpenAICompatProvider


class UnknownProviderKind(ProviderError, KeyError):
    """No adapter for an endpoint kind: a KeyError for lookups, a ProviderError so a variant reports it."""

    def __str__(self) -> str:
        # KeyError's own __str__ would quote the message.
        return str(self.args[0])


class ProviderRegistry:
    """Adapters keyed by their `kind`."""

    def __init__(self) -> None:
        self._providers: dict[str, Provider] = {}

    def register(self, provider: Provider, *, replace: bool = False) -> None:
        """Add an adapter under its kind; registering a kind twice is a mistake unless `replace`."""
        if provider.kind in self._providers and not replace:
            raise ValueError(f"a provider for kind {provider.kind!r} is already registered")
        self._providers[provider.kind] = provider

    def get(self, kind: str) -> Provider:
        """The adapter for `kind`; UnknownProviderKind (a KeyError) names the known kinds otherwise."""
        try:
            return self._providers[kind]
        except KeyError:
            known = ", ".join(self.kinds()) or "none"
            raise UnknownProviderKind(f"no provider for endpoint kind {kind!r} (known: {known})") from None

    def kinds(self) -> list[str]:
        """Registered kinds, sorted."""
        return sorted(self._providers)

    def __contains__(self, kind: object) -> bool:
        return kind in self._providers


def build_registry(client: httpx.AsyncClient) -> ProviderRegistry:
    """Both adapters sharing the app's one HTTP client."""
    registry = ProviderRegistry()
    registry.register(OpenAICompatProvider(client))
    registry.register(AnthropicProvider(client))
    return registry
