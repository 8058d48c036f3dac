"""Datasets, their versions and items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.auth import Principal
from app.core.readable import readable
from app.core.repository import SoftDeletionMixin
from app.models import Dataset, DatasetItem, DatasetVersion, Experiment


class DatasetRepository(SoftDeletionMixin[Dataset]):
    """Datasets; their items are read through `readable_items`, scoped to `reader` (an item whose reference
    came from a rated comparison is a blind rater's to read only once they revealed that comparison)."""

    model = Dataset
    loads = (selectinload(Dataset.versions),)

    def __init__(self, session: AsyncSession, reader: Principal):
        super().__init__(session)
        self.reader = reader

    def ordering(self) -> tuple[Any, ...]:
        return (Dataset.name,)

    def readable_items(self) -> Select[DatasetItem]:
        """Every item the reader may read."""
        return select(DatasetItem).where(readable(DatasetItem.comparison_id, self.reader))

    async def item_counts(self, version_ids: Sequence[int]) -> dict[int, int]:
        items = self.readable_items().where(DatasetItem.dataset_version_id.in_(set(version_ids))).subquery()
        stmt = select(items.c.dataset_version_id, func.count(items.c.id)).group_by(items.c.dataset_version_id)
        return {v: int(n) for v, n in (await self.session.execute(stmt)).all()}

    async def items(self, version_id: int) -> Sequence[DatasetItem]:
        stmt = (
            self.readable_items()
            .where(DatasetItem.dataset_version_id == version_id)
            .order_by(DatasetItem.position, DatasetItem.id)
        )
        return (await self.session.scalars(stmt)).all()

    async def version(self, version_id: int) -> DatasetVersion | None:
        stmt = (
            select(DatasetVersion)
            .where(DatasetVersion.id == version_id)
            .options(selectinload(DatasetVersion.dataset), selectinload(DatasetVersion.items))
        )
        return await self.session.scalar(stmt)

    async def version_is_used(self, version_id: int) -> bool:
        """An experiment ran (or runs) this version: it is frozen from now on."""
        return bool(
            await self.session.scalar(select(exists().where(Experiment.dataset_version_id == version_id)))
        )
