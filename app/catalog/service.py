"""The catalog's rules: endpoints (SSRF-safe URLs, keys encrypted), example sets, and versioned variants."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.repository import EndpointRepository, ExampleSetRepository, VariantRepository
from app.catalog.schemas import (
    EndpointIn,
    EndpointPatch,
    ExampleIn,
    ExampleSetIn,
    ExampleSetPatch,
    VariantConfig,
    VariantIn,
    VariantPatch,
)
from app.core.errors import Conflict, Invalid, NotFound
from app.core.repository import is_active
from app.core.secrets import KeyCipher
from app.core.settings import BUNDLED_MODEL_ID
from app.models import Endpoint, Example, ExampleSet, Variant, VariantVersion
from app.pipelines.base import FINE_TUNED_STRATEGIES, RETRIEVAL_STRATEGIES
from app.prompts.bounded import TemplateRenderer, user_template_problem
from app.providers.base import EndpointConfig
from app.providers.urls import avalidate_endpoint_url


def endpoint_config(endpoint: Endpoint, cipher: KeyCipher) -> EndpointConfig:
    """The decrypted connection a provider needs (kept in memory only). The bundled server takes the app's own
    token (it asks for one when the app listens beyond loopback)."""
    key = cipher.decrypt(endpoint.api_key_encrypted) if endpoint.api_key_encrypted else None
    if key is None and endpoint.is_bundled:
        key = cipher.local_model_token()
    return EndpointConfig(
        kind=endpoint.kind,
        base_url=endpoint.base_url,
        model=endpoint.model,
        api_key=key,
        timeout_s=endpoint.timeout_s,
        bundled=endpoint.is_bundled,
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

    async def bundled(self, model: str) -> Endpoint | None:
        return await self.repo.bundled(model)

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
            max_concurrency=data.max_concurrency,
            is_bundled=is_bundled,
            is_fine_tuned=data.is_fine_tuned,
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
            if value is None and field in ("name", "kind", "model", "base_url", "timeout_s", "max_concurrency", "is_fine_tuned"):
                continue
            setattr(endpoint, field, value)
        await self.repo.session.flush()
        return EndpointUpdate(endpoint, key_cleared)

    async def archive(self, endpoint_id: int) -> Endpoint:
        endpoint = await self.get(endpoint_id)
        await self.repo.archive(endpoint)
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


class ExampleSetService:
    def __init__(self, session: AsyncSession):
        self.session = session
        self.repo = ExampleSetRepository(session)

    async def list(self, *, include_archived: bool = False) -> Sequence[tuple[ExampleSet, int]]:
        return await self.repo.with_counts(include_archived=include_archived)

    async def get(self, set_id: int) -> ExampleSet:
        example_set = await self.repo.get(set_id)
        if example_set is None:
            raise NotFound(f"example set {set_id} not found")
        return example_set

    async def create(self, data: ExampleSetIn) -> ExampleSet:
        if await self.repo.by_name(data.name) is not None:
            raise Conflict(f"an example set named {data.name!r} already exists")
        example_set = ExampleSet(name=data.name, description=data.description)
        example_set.examples = _to_rows(data.examples)
        self.repo.add(example_set)
        await self.session.flush()
        return await self.get(example_set.id)

    async def update(self, set_id: int, data: ExampleSetPatch) -> ExampleSet:
        example_set = await self.get(set_id)
        if data.name is not None and data.name != example_set.name:
            if await self.repo.by_name(data.name) is not None:
                raise Conflict(f"an example set named {data.name!r} already exists")
            example_set.name = data.name
        if data.description is not None:
            example_set.description = data.description
        if data.examples is not None:
            example_set.examples = _to_rows(data.examples)
        await self.session.flush()
        self.session.expunge(example_set)
        return await self.get(set_id)

    async def archive(self, set_id: int) -> ExampleSet:
        example_set = await self.get(set_id)
        await self.repo.archive(example_set)
        return example_set


def _to_rows(examples: list[ExampleIn]) -> list[Example]:
    return [Example(position=i, input=e.input, output=e.output) for i, e in enumerate(examples)]


CONFIG_FIELDS = tuple(VariantConfig.model_fields)


NULLABLE_CONFIG = frozenset({"example_set_id", "knowledge_base_id"})
# Config fields added after the first variants were stored, with the value that means "not set".
LATER_FIELDS: dict[str, Any] = {"context_template": ""}


def config_hash(strategy: str, config: dict[str, Any]) -> str:
    """A stable identity for a recipe: same strategy and settings, same hash. Settings added later count only
    when set, so recipes stored before they existed keep their hash."""
    material = {k: v for k, v in config.items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}
    canonical = json.dumps({"strategy": strategy, **material}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def version_config(version: VariantVersion) -> dict[str, Any]:
    return {field: getattr(version, field) for field in CONFIG_FIELDS} | {
        "embedding_model": version.embedding_model
    }


_Found = TypeVar("_Found")


def _in_asked_order(asked: list[int], found: dict[int, _Found]) -> list[_Found]:
    """What was found for each variant id asked, in the order asked; an id with nothing is refused."""
    if missing := [i for i in asked if i not in found]:
        raise Invalid(f"variant_ids: unknown or archived variant id(s): {', '.join(map(str, missing))}")
    return [found[i] for i in asked]


def current_version(variant: Variant) -> VariantVersion:
    return max(variant.versions, key=lambda v: v.version)


def stand_in_notice(variant: Variant, version: VariantVersion | None = None) -> str | None:
    """Say plainly when a 'fine-tuned' variant is really the base model standing in."""
    version = version or current_version(variant)
    if variant.strategy in FINE_TUNED_STRATEGIES and not version.endpoint.is_fine_tuned:
        model = version.endpoint.model
        base = " (the bundled base model)" if model == BUNDLED_MODEL_ID else ""
        return (
            f"Not fine-tuned yet: this variant runs {model}{base}. "
            "Point it at a fine-tuned endpoint to compare a real fine-tune."
        )
    return None


class VariantService:
    def __init__(self, session: AsyncSession, templates: TemplateRenderer | None = None):
        self.session = session
        self.repo = VariantRepository(session)
        # Context templates are tried on save in the app's bounded renderer (a one-off one without it).
        self.templates = templates

    async def list(self, *, include_archived: bool = False) -> Sequence[Variant]:
        return await self.repo.list(include_archived=include_archived)

    async def get(self, variant_id: int) -> Variant:
        variant = await self.repo.get(variant_id)
        if variant is None:
            raise NotFound(f"variant {variant_id} not found")
        return variant

    async def create(self, data: VariantIn) -> Variant:
        if await self.repo.by_name(data.name) is not None:
            raise Conflict(f"a variant named {data.name!r} already exists")
        config = VariantConfig.model_validate(data.model_dump(include=set(CONFIG_FIELDS)))
        embedding_model = await self._validate(data.strategy, config)
        variant = Variant(name=data.name, strategy=data.strategy, description=data.description)
        variant.versions.append(self._new_version(1, data.strategy, config, embedding_model))
        self.repo.add(variant)
        await self.session.flush()
        return await self.get(variant.id)

    async def update(self, variant_id: int, data: VariantPatch) -> Variant:
        """Rename freely; a config change edits the current version, or adds one if outputs use it."""
        variant = await self.get(variant_id)
        changes = data.model_dump(exclude_unset=True)
        name, description = changes.pop("name", None), changes.pop("description", None)
        # Every check comes before the first change: a refused edit changes nothing.
        renamed = bool(name) and name != variant.name
        if renamed and await self.repo.by_name(name) is not None:
            raise Conflict(f"a variant named {name!r} already exists")
        version = current_version(variant)
        old = {field: getattr(version, field) for field in CONFIG_FIELDS}
        # An explicit null unsets an optional reference; for any other field it means "unchanged".
        merged = old | {k: v for k, v in changes.items() if v is not None or k in NULLABLE_CONFIG}
        config = VariantConfig.model_validate(merged)
        embedding_model = await self._validate(variant.strategy, config)
        if renamed:
            variant.name = name
        if description is not None:
            variant.description = description
        new_hash = config_hash(variant.strategy, config.model_dump() | {"embedding_model": embedding_model})
        if new_hash != version.config_hash:
            if await self.repo.version_is_used(version.id):
                variant.versions.append(
                    self._new_version(version.version + 1, variant.strategy, config, embedding_model)
                )
            else:
                for field, value in config.model_dump().items():
                    setattr(version, field, value)
                version.embedding_model = embedding_model
                version.config_hash = new_hash
        await self.session.flush()
        self.session.expunge(variant)
        return await self.get(variant.id)

    async def for_comparison(self, variant_ids: Sequence[int] | None) -> Sequence[Variant]:
        """The variants a comparison asks: each one named (active), or every active one."""
        if variant_ids is None:
            return list(await self.repo.list())
        unique_ids = list(dict.fromkeys(variant_ids))
        found = {v.id: v for v in await self.repo.get_many(unique_ids) if is_active(v)}
        return _in_asked_order(unique_ids, found)

    async def current_versions(self, variant_ids: Sequence[int] | None) -> Sequence[VariantVersion]:
        """What a comparison runs: the current version of each variant named (active), or of every active
        one, with everything running it takes loaded."""
        if variant_ids is None:
            return await self.repo.current_versions(None)
        unique_ids = list(dict.fromkeys(variant_ids))
        found = {v.variant_id: v for v in await self.repo.current_versions(unique_ids)}
        return _in_asked_order(unique_ids, found)

    async def versions_for_run(self, version_ids: Sequence[int]) -> dict[int, VariantVersion]:
        """Stored versions by id (a run resumed after a restart), with everything running them takes."""
        return await self.repo.versions_for_run(version_ids)

    async def archive(self, variant_id: int) -> Variant:
        variant = await self.get(variant_id)
        await self.repo.archive(variant)
        return variant

    def _new_version(
        self, number: int, strategy: str, config: VariantConfig, embedding_model: str | None
    ) -> VariantVersion:
        values = config.model_dump()
        return VariantVersion(
            version=number,
            config_hash=config_hash(strategy, values | {"embedding_model": embedding_model}),
            embedding_model=embedding_model,
            **values,
        )

    async def _validate(self, strategy: str, config: VariantConfig) -> str | None:
        """Check references and strategy needs; returns the knowledge base's embedding model."""
        if await EndpointRepository(self.session).get_active(config.endpoint_id) is None:
            raise Invalid(f"endpoint_id {config.endpoint_id} does not name an active endpoint")
        examples = ExampleSetRepository(self.session)
        if config.example_set_id is not None and await examples.get_active(config.example_set_id) is None:
            raise Invalid(f"example_set_id {config.example_set_id} does not name an active example set")
        if config.context_template and (problem := await user_template_problem(config.context_template, self.templates)):
            raise Invalid(f"context_template: {problem}")
        if strategy == "few_shot" and config.few_shot_k > 0 and config.example_set_id is None:
            raise Invalid("a few_shot variant with few_shot_k > 0 needs an example_set_id")
        kb = None
        if config.knowledge_base_id is not None:
            # Checked whatever the strategy: a dangling id would otherwise fail as a foreign key (a 500).
            kb = await self.repo.knowledge_base(config.knowledge_base_id)
            if kb is None or not is_active(kb):
                raise Invalid(f"knowledge_base_id {config.knowledge_base_id} does not name a knowledge base")
        if strategy not in RETRIEVAL_STRATEGIES:
            return None
        if kb is None or config.top_k < 1:
            raise Invalid(f"a {strategy} variant needs a knowledge_base_id and top_k of at least 1")
        return kb.embedding_model
