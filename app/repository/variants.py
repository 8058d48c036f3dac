"""Variants and their versions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import Example, ExampleSet, Output, Variant, VariantVersion

_VERSION_LOADS = (
    selectinload(VariantVersion.endpoint),
    selectinload(VariantVersion.knowledge_base),
    selectinload(VariantVersion.example_set).selectinload(ExampleSet.examples),
)


class VariantRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def list(self, *, include_archived: bool = False) -> Sequence[Variant]:
        stmt = (
            select(Variant)
            .order_by(Variant.id)
            .options(selectinload(Variant.versions).options(*_VERSION_LOADS))
        )
        if not include_archived:
            stmt = stmt.where(Variant.archived_at.is_(None))
        return (await self.session.scalars(stmt)).all()

    async def get(self, variant_id: int) -> Variant | None:
        stmt = (
            select(Variant)
            .where(Variant.id == variant_id)
            .options(selectinload(Variant.versions).options(*_VERSION_LOADS))
        )
        return await self.session.scalar(stmt)

    async def get_many(self, variant_ids: Sequence[int]) -> Sequence[Variant]:
        stmt = (
            select(Variant)
            .where(Variant.id.in_(variant_ids))
            .options(selectinload(Variant.versions).options(*_VERSION_LOADS))
        )
        return (await self.session.scalars(stmt)).all()

    async def by_name(self, name: str) -> Variant | None:
        return await self.session.scalar(select(Variant).where(Variant.name == name))

    async def version_is_used(self, version_id: int) -> bool:
        """True once any output points at the version: from then on it is immutable."""
        return bool(
            await self.session.scalar(select(exists().where(Output.variant_version_id == version_id)))
        )

    async def example_count(self, example_set_id: int) -> int:
        rows = await self.session.scalars(select(Example.id).where(Example.example_set_id == example_set_id))
        return len(rows.all())

    def add(self, obj: Variant | VariantVersion) -> None:
        self.session.add(obj)
