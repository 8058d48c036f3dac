"""Example sets: the few-shot pool and, later, fine-tuning data."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.schemas import ExampleIn, ExampleSetIn, ExampleSetPatch
from app.core.errors import Conflict, NotFound
from app.models import Example, ExampleSet, utcnow
from app.repository import ExampleSetRepository


class ExampleSetService:
    def __init__(self, session: AsyncSession):
        self.session = session
        self.repo = ExampleSetRepository(session)

    async def list(self, *, include_archived: bool = False) -> Sequence[tuple[ExampleSet, int]]:
        return await self.repo.list(include_archived=include_archived)

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
        example_set.archived_at = example_set.archived_at or utcnow()
        await self.session.flush()
        return example_set


def _to_rows(examples: list[ExampleIn]) -> list[Example]:
    return [Example(position=i, input=e.input, output=e.output) for i, e in enumerate(examples)]
