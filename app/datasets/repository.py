"""Datasets, their versions and items."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import Dataset, DatasetItem, DatasetVersion, Experiment


class DatasetRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    def add(self, dataset: Dataset) -> None:
        self.session.add(dataset)

    async def get(self, dataset_id: int) -> Dataset | None:
        stmt = select(Dataset).where(Dataset.id == dataset_id).options(selectinload(Dataset.versions))
        return await self.session.scalar(stmt)

    async def by_name(self, name: str) -> Dataset | None:
        return await self.session.scalar(select(Dataset).where(Dataset.name == name))

    async def list(self, *, include_archived: bool = False) -> Sequence[Dataset]:
        stmt = select(Dataset).order_by(Dataset.name).options(selectinload(Dataset.versions))
        if not include_archived:
            stmt = stmt.where(Dataset.archived_at.is_(None))
        return (await self.session.scalars(stmt)).all()

    async def item_counts(self, version_ids: Sequence[int]) -> dict[int, int]:
        stmt = (
            select(DatasetItem.dataset_version_id, func.count(DatasetItem.id))
            .where(DatasetItem.dataset_version_id.in_(set(version_ids)))
            .group_by(DatasetItem.dataset_version_id)
        )
        return {v: int(n) for v, n in (await self.session.execute(stmt)).all()}

    async def items(self, version_id: int) -> Sequence[DatasetItem]:
        stmt = (
            select(DatasetItem)
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
