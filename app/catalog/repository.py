"""Endpoints, example sets and variants: all the catalog SQL."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.database import hold_row
from app.models import Endpoint, Example, ExampleSet, KnowledgeBase, Output, Variant, VariantVersion


class EndpointRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def list(self, *, include_archived: bool = False) -> Sequence[Endpoint]:
        stmt = select(Endpoint).order_by(Endpoint.id)
        if not include_archived:
            stmt = stmt.where(Endpoint.archived_at.is_(None))
        return (await self.session.scalars(stmt)).all()

    async def get(self, endpoint_id: int) -> Endpoint | None:
        return await self.session.get(Endpoint, endpoint_id)

    async def by_name(self, name: str) -> Endpoint | None:
        return await self.session.scalar(select(Endpoint).where(Endpoint.name == name))

    async def bundled(self, model: str) -> Endpoint | None:
        """The oldest active endpoint of the bundled model server serving `model`."""
        return await self.session.scalar(
            select(Endpoint)
            .where(Endpoint.is_bundled.is_(True), Endpoint.model == model, Endpoint.archived_at.is_(None))
            .order_by(Endpoint.id)
            .limit(1)
        )

    def add(self, endpoint: Endpoint) -> None:
        self.session.add(endpoint)


class ExampleSetRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def list(self, *, include_archived: bool = False) -> Sequence[tuple[ExampleSet, int]]:
        """Sets with their example counts."""
        count = (
            select(func.count(Example.id)).where(Example.example_set_id == ExampleSet.id).scalar_subquery()
        )
        stmt = select(ExampleSet, count).order_by(ExampleSet.id)
        if not include_archived:
            stmt = stmt.where(ExampleSet.archived_at.is_(None))
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def get(self, set_id: int) -> ExampleSet | None:
        stmt = select(ExampleSet).where(ExampleSet.id == set_id).options(selectinload(ExampleSet.examples))
        return await self.session.scalar(stmt)

    async def by_name(self, name: str) -> ExampleSet | None:
        return await self.session.scalar(select(ExampleSet).where(ExampleSet.name == name))

    def add(self, example_set: ExampleSet) -> None:
        self.session.add(example_set)


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

    async def knowledge_base(self, kb_id: int) -> KnowledgeBase | None:
        """The knowledge base a variant would retrieve from, held against deletion until the transaction
        ends (PostgreSQL: FOR SHARE, which a delete's FOR UPDATE waits for and vice versa; SQLite: the write
        lock, by a no-op write, as the delete takes it)."""
        if not await hold_row(self.session, KnowledgeBase, kb_id, touch=KnowledgeBase.name, lock="share"):
            return None  # never there, or deleted while we waited for the row
        return await self.session.get(KnowledgeBase, kb_id)
