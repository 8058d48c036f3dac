"""The rubric's dimensions."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.models import RubricDimension


class RubricRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def ordered(self) -> Sequence[RubricDimension]:
        stmt = select(RubricDimension).order_by(RubricDimension.position, RubricDimension.id)
        return (await self.session.scalars(stmt)).all()

    async def replace(self, dimensions: list[RubricDimension]) -> None:
        await self.session.execute(delete(RubricDimension))
        self.session.add_all(dimensions)
        await self.session.flush()
