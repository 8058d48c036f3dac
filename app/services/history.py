"""Reading stored comparisons."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import NotFound
from app.models import Comparison
from app.repository import ComparisonRepository


class ComparisonReader:
    def __init__(self, session: AsyncSession):
        self.repo = ComparisonRepository(session)

    async def get(self, comparison_id: int) -> Comparison:
        comparison = await self.repo.get(comparison_id)
        if comparison is None:
            raise NotFound(f"comparison {comparison_id} not found")
        return comparison

    async def page(self, *, limit: int, offset: int) -> tuple[Sequence[Comparison], int]:
        """Newest first, with the total count for paging."""
        return await self.repo.list(limit=limit, offset=offset), await self.repo.count()

    async def datasets(self) -> list[str]:
        """Every dataset name in use (for filter pickers)."""
        return list(await self.repo.datasets())

    async def tags(self) -> list[str]:
        return list(await self.repo.tags())
