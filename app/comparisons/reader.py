"""Reading stored comparisons as a principal may read them (the blind rule, app/core/readable.py)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.comparisons.repository import ComparisonRepository
from app.core.auth import Principal
from app.core.errors import Forbidden, NotFound
from app.core.readable import reveals
from app.models import Comparison


class BlindUntilRated(Forbidden):
    """A blind rater asked for a comparison whose identities they have not revealed: rate it blind first."""

    def __init__(self, comparison_id: int):
        super().__init__(
            f"rate this comparison blind first: GET /api/v1/comparisons/{comparison_id}/blind, then POST a rating"
        )
        self.comparison_id = comparison_id


class ComparisonReader:
    """Comparisons as `reader` may read them: whole once revealed (app/core/readable.py); before that a blind
    rater gets BlindUntilRated, and history rows say nothing about answers or ratings."""

    def __init__(self, session: AsyncSession, reader: Principal):
        self.repo = ComparisonRepository(session)
        self.reader = reader

    async def get(self, comparison_id: int) -> Comparison:
        comparison = await self.repo.get(comparison_id)
        if comparison is None:
            raise NotFound(f"comparison {comparison_id} not found")
        if not reveals(comparison, self.reader):
            raise BlindUntilRated(comparison_id)
        return comparison

    def revealed(self, comparison: Comparison) -> bool:
        """Whether the reader may see this (listed) comparison's answers' authors, errors and ratings."""
        return reveals(comparison, self.reader)

    async def page(
        self, *, limit: int, offset: int, experiment_id: int | None = None
    ) -> tuple[Sequence[Comparison], int]:
        """Newest first (only one experiment's, when given), with the total count for paging."""
        return (
            await self.repo.list(limit=limit, offset=offset, experiment_id=experiment_id),
            await self.repo.count(experiment_id=experiment_id),
        )

    async def datasets(self) -> list[str]:
        """Every dataset name in use (for filter pickers)."""
        return list(await self.repo.datasets())

    async def tags(self) -> list[str]:
        return list(await self.repo.tags())
