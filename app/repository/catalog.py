"""Endpoints, example sets and knowledge bases: the things variants are built from."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import Endpoint, Example, ExampleSet


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
