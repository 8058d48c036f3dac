"""Endpoints, example sets and knowledge bases: the things variants are built from."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import Chunk, Document, Endpoint, Example, ExampleSet, KnowledgeBase


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


class KnowledgeRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def list(self) -> Sequence[KnowledgeBase]:
        stmt = select(KnowledgeBase).where(KnowledgeBase.archived_at.is_(None)).order_by(KnowledgeBase.id)
        return (await self.session.scalars(stmt)).all()

    async def get(self, kb_id: int) -> KnowledgeBase | None:
        return await self.session.get(KnowledgeBase, kb_id)

    async def by_name(self, name: str) -> KnowledgeBase | None:
        return await self.session.scalar(select(KnowledgeBase).where(KnowledgeBase.name == name))

    async def document_by_hash(self, kb_id: int, content_hash: str) -> Document | None:
        stmt = select(Document).where(
            Document.knowledge_base_id == kb_id, Document.content_hash == content_hash
        )
        return await self.session.scalar(stmt)

    async def documents(self, kb_id: int) -> Sequence[Document]:
        stmt = select(Document).where(Document.knowledge_base_id == kb_id).order_by(Document.id)
        return (await self.session.scalars(stmt)).all()

    async def chunk_ids(self, document_id: int) -> Sequence[str]:
        return (await self.session.scalars(select(Chunk.id).where(Chunk.document_id == document_id))).all()

    def add(self, obj: KnowledgeBase | Document | Chunk) -> None:
        self.session.add(obj)
