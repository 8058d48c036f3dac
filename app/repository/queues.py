"""Review queues and how far their raters have got."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.models import Comparison, ComparisonTag, Rating, ReviewQueue, ReviewQueueItem

MAX_QUEUE_ITEMS = 5000


class QueueRepository:
    def __init__(self, session: AsyncSession):
        self.session = session

    def add(self, queue: ReviewQueue) -> None:
        self.session.add(queue)

    async def get(self, queue_id: int) -> ReviewQueue | None:
        return await self.session.get(ReviewQueue, queue_id, options=[selectinload(ReviewQueue.items)])

    async def newest_first(self) -> Sequence[ReviewQueue]:
        stmt = select(ReviewQueue).order_by(ReviewQueue.id.desc()).options(selectinload(ReviewQueue.items))
        return (await self.session.scalars(stmt)).all()

    async def delete(self, queue: ReviewQueue) -> None:
        await self.session.delete(queue)

    async def existing_comparisons(self, ids: Sequence[int]) -> set[int]:
        found = await self.session.scalars(select(Comparison.id).where(Comparison.id.in_(set(ids))))
        return set(found.all())

    async def matching_comparisons(self, dataset: str, tag: str) -> list[int]:
        """Comparisons from a dataset and/or with a tag, oldest first."""
        stmt = select(Comparison.id).order_by(Comparison.id).limit(MAX_QUEUE_ITEMS + 1)
        if dataset:
            stmt = stmt.where(Comparison.dataset == dataset)
        if tag:
            stmt = stmt.where(
                Comparison.id.in_(select(ComparisonTag.comparison_id).where(ComparisonTag.tag == tag))
            )
        return list((await self.session.scalars(stmt)).all())

    async def item_counts(self, queue_id: int, rater: str) -> list[tuple[int, int, bool]]:
        """(comparison id, ratings so far, rated by `rater`) per item, in queue order."""
        stmt = (
            select(
                ReviewQueueItem.comparison_id,
                func.count(Rating.id),
                func.coalesce(func.sum(case((Rating.rater == rater, 1), else_=0)), 0),
            )
            .outerjoin(Rating, Rating.comparison_id == ReviewQueueItem.comparison_id)
            .where(ReviewQueueItem.queue_id == queue_id)
            .group_by(ReviewQueueItem.id, ReviewQueueItem.comparison_id, ReviewQueueItem.position)
            .order_by(ReviewQueueItem.position, ReviewQueueItem.id)
        )
        return [(cid, int(n), bool(mine)) for cid, n, mine in (await self.session.execute(stmt)).all()]

    async def rater_counts(self, queue_id: int) -> list[tuple[str, int]]:
        stmt = (
            select(Rating.rater, func.count(Rating.id))
            .join(ReviewQueueItem, ReviewQueueItem.comparison_id == Rating.comparison_id)
            .where(ReviewQueueItem.queue_id == queue_id)
            .group_by(Rating.rater)
            .order_by(func.count(Rating.id).desc(), Rating.rater)
        )
        return [(rater, int(n)) for rater, n in (await self.session.execute(stmt)).all()]
