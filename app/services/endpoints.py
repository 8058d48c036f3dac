"""Endpoint management: validation (SSRF-safe URLs), key encryption, archive."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.schemas import EndpointIn, EndpointPatch
from app.core.errors import Conflict, Invalid, NotFound
from app.core.secrets import KeyCipher
from app.models import Endpoint, utcnow
from app.providers.base import EndpointConfig
from app.providers.urls import avalidate_endpoint_url
from app.repository import EndpointRepository


def endpoint_config(endpoint: Endpoint, cipher: KeyCipher) -> EndpointConfig:
    """The decrypted connection a provider needs (kept in memory only)."""
    key = cipher.decrypt(endpoint.api_key_encrypted) if endpoint.api_key_encrypted else None
    return EndpointConfig(
        kind=endpoint.kind,
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=key,
        timeout_s=endpoint.timeout_s,
    )


KEY_CLEARED = "the base URL changed, so the stored API key was removed: set api_key again to send one"


@dataclass(frozen=True)
class EndpointUpdate:
    endpoint: Endpoint
    key_cleared: bool  # a new base URL removed the stored key

    @property
    def notice(self) -> str | None:
        return KEY_CLEARED if self.key_cleared else None


class EndpointService:
    def __init__(self, session: AsyncSession, cipher: KeyCipher, *, allow_private: bool):
        self.repo = EndpointRepository(session)
        self.cipher = cipher
        self.allow_private = allow_private

    async def list(self, *, include_archived: bool = False) -> Sequence[Endpoint]:
        return await self.repo.list(include_archived=include_archived)

    async def get(self, endpoint_id: int) -> Endpoint:
        endpoint = await self.repo.get(endpoint_id)
        if endpoint is None:
            raise NotFound(f"endpoint {endpoint_id} not found")
        return endpoint

    async def create(self, data: EndpointIn, *, is_bundled: bool = False) -> Endpoint:
        """Validate and store a new endpoint; the key is encrypted before it touches the database."""
        await self._check_name_free(data.name)
        endpoint = Endpoint(
            name=data.name,
            kind=data.kind,
            base_url=await self._checked_url(data.base_url, is_bundled),
            model=data.model,
            api_key_encrypted=self.cipher.encrypt(data.api_key) if data.api_key else None,
            price_prompt_per_m=data.price_prompt_per_m,
            price_completion_per_m=data.price_completion_per_m,
            timeout_s=data.timeout_s,
            is_bundled=is_bundled,
        )
        self.repo.add(endpoint)
        await self.repo.session.flush()
        return endpoint

    async def update(self, endpoint_id: int, data: EndpointPatch) -> EndpointUpdate:
        """Edit in place (endpoints are not versioned: outputs record the model they used). A new base URL
        drops the stored key unless the same edit sets one: the key was given for the old host, and must
        never follow the URL to another."""
        endpoint = await self.get(endpoint_id)
        changes = data.model_dump(exclude_unset=True)
        if "name" in changes and changes["name"] != endpoint.name:
            await self._check_name_free(changes["name"])
        if changes.get("base_url") is not None:
            changes["base_url"] = await self._checked_url(changes["base_url"], endpoint.is_bundled)
        moved = changes.get("base_url") not in (None, endpoint.base_url)
        key_cleared = moved and "api_key" not in changes and endpoint.api_key_encrypted is not None
        if key_cleared:
            changes["api_key"] = None
        if "api_key" in changes:
            key = changes.pop("api_key")
            endpoint.api_key_encrypted = self.cipher.encrypt(key) if key else None
        for field, value in changes.items():
            if value is None and field in ("name", "kind", "model", "base_url", "timeout_s"):
                continue
            setattr(endpoint, field, value)
        await self.repo.session.flush()
        return EndpointUpdate(endpoint, key_cleared)

    async def archive(self, endpoint_id: int) -> Endpoint:
        endpoint = await self.get(endpoint_id)
        endpoint.archived_at = endpoint.archived_at or utcnow()
        await self.repo.session.flush()
        return endpoint

    def to_config(self, endpoint: Endpoint) -> EndpointConfig:
        return endpoint_config(endpoint, self.cipher)

    async def _check_name_free(self, name: str) -> None:
        if await self.repo.by_name(name) is not None:
            raise Conflict(f"an endpoint named {name!r} already exists")

    async def _checked_url(self, url: str, is_bundled: bool) -> str:
        # The bundled server is this app itself on loopback: always allowed.
        try:
            return await avalidate_endpoint_url(url, allow_private=self.allow_private or is_bundled)
        except ValueError as exc:
            raise Invalid(f"base_url: {exc}") from exc
