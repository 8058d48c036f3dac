"""Variants: versioned recipes. A version is immutable once an output points at it."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.schemas import VariantConfig, VariantIn, VariantPatch
from app.core.errors import Conflict, Invalid, NotFound
from app.core.settings import BUNDLED_MODEL_ID
from app.models import Variant, VariantVersion, utcnow
from app.pipelines.base import FINE_TUNED_STRATEGIES, RETRIEVAL_STRATEGIES
from app.repository import EndpointRepository, ExampleSetRepository, KnowledgeRepository, VariantRepository

CONFIG_FIELDS = tuple(VariantConfig.model_fields)
NULLABLE_CONFIG = frozenset({"example_set_id", "knowledge_base_id"})


def config_hash(strategy: str, config: dict[str, Any]) -> str:
    """A stable identity for a recipe: same strategy and settings, same hash."""
    canonical = json.dumps({"strategy": strategy, **config}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def version_config(version: VariantVersion) -> dict[str, Any]:
    return {field: getattr(version, field) for field in CONFIG_FIELDS} | {
        "embedding_model": version.embedding_model
    }


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
    def __init__(self, session: AsyncSession):
        self.session = session
        self.repo = VariantRepository(session)

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
        if (name := changes.pop("name", None)) and name != variant.name:
            if await self.repo.by_name(name) is not None:
                raise Conflict(f"a variant named {name!r} already exists")
            variant.name = name
        if (description := changes.pop("description", None)) is not None:
            variant.description = description
        version = current_version(variant)
        old = {field: getattr(version, field) for field in CONFIG_FIELDS}
        # An explicit null unsets an optional reference; for any other field it means "unchanged".
        merged = old | {k: v for k, v in changes.items() if v is not None or k in NULLABLE_CONFIG}
        config = VariantConfig.model_validate(merged)
        embedding_model = await self._validate(variant.strategy, config)
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

    async def archive(self, variant_id: int) -> Variant:
        variant = await self.get(variant_id)
        variant.archived_at = variant.archived_at or utcnow()
        await self.session.flush()
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
        endpoint = await EndpointRepository(self.session).get(config.endpoint_id)
        if endpoint is None or endpoint.archived_at is not None:
            raise Invalid(f"endpoint_id {config.endpoint_id} does not name an active endpoint")
        if config.example_set_id is not None:
            example_set = await ExampleSetRepository(self.session).get(config.example_set_id)
            if example_set is None or example_set.archived_at is not None:
                raise Invalid(f"example_set_id {config.example_set_id} does not name an active example set")
        if strategy == "few_shot" and config.few_shot_k > 0 and config.example_set_id is None:
            raise Invalid("a few_shot variant with few_shot_k > 0 needs an example_set_id")
        kb = None
        if config.knowledge_base_id is not None:
            # Checked whatever the strategy: a dangling id would otherwise fail as a foreign key (a 500).
            kb = await KnowledgeRepository(self.session).get(config.knowledge_base_id)
            if kb is None or kb.archived_at is not None:
                raise Invalid(f"knowledge_base_id {config.knowledge_base_id} does not name a knowledge base")
        if strategy not in RETRIEVAL_STRATEGIES:
            return None
        if kb is None or config.top_k < 1:
            raise Invalid(f"a {strategy} variant needs a knowledge_base_id and top_k of at least 1")
        return kb.embedding_model
