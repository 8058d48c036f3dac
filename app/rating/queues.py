"""Review queues: an admin asks for k ratings per comparison; each rater is handed the next item they
have not rated that still needs raters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.errors import Invalid, NotFound
from app.models import ReviewQueue, ReviewQueueItem
from app.rating.repository import MAX_QUEUE_ITEMS, QueueRepository
from app.rating.schemas import QueueIn


@dataclass(frozen=True)
class QueueProgress:
    queue: ReviewQueue
    items: int
    complete: int
    mine: int
    left_for_me: int
    raters: list[tuple[str, int]]
    next_comparison_id: int | None


class QueueService:
    def __init__(self, session: AsyncSession):
        self.session = session
        self.repo = QueueRepository(session)

    async def create(self, data: QueueIn, created_by: str) -> ReviewQueue:
        filtered = bool(data.dataset or data.tag or data.experiment_id)
        if data.comparison_ids and filtered:
            raise Invalid("give either comparison_ids or a dataset/tag/experiment filter, not both")
        if data.comparison_ids:
            ids = list(dict.fromkeys(data.comparison_ids))
            if missing := sorted(set(ids) - await self.repo.existing_comparisons(ids)):
                raise Invalid(f"comparison_ids: unknown comparison id(s): {', '.join(map(str, missing[:20]))}")
        elif filtered:
            ids = await self.repo.matching_comparisons(data.dataset, data.tag, data.experiment_id)
            if len(ids) > MAX_QUEUE_ITEMS:
                raise Invalid(f"more than {MAX_QUEUE_ITEMS} comparisons match: narrow the filter")
        else:
            raise Invalid("say which comparisons to queue: comparison_ids, or a dataset, tag or experiment_id")
        if not ids:
            raise Invalid("no comparisons match that dataset, tag and experiment")
        queue = ReviewQueue(
            name=data.name,
            raters_per_item=data.raters_per_item,
            reveal_together=data.reveal_together,
            created_by=created_by,
        )
        queue.items = [ReviewQueueItem(comparison_id=cid, position=i) for i, cid in enumerate(ids)]
        self.repo.add(queue)
        await self.session.flush()
        return queue

    async def get(self, queue_id: int) -> ReviewQueue:
        queue = await self.repo.get(queue_id)
        if queue is None:
            raise NotFound(f"review queue {queue_id} not found")
        return queue

    async def delete(self, queue_id: int) -> None:
        await self.repo.delete(await self.get(queue_id))

    async def progress(self, queue: ReviewQueue, rater: str) -> QueueProgress:
        """Counts only: raters see how many ratings an item has, never what they say."""
        return (await self.progresses([queue], rater))[0]

    async def progresses(self, queues: Sequence[ReviewQueue], rater: str) -> list[QueueProgress]:
        """Each queue's progress, in two queries however many queues."""
        ids = [q.id for q in queues]
        items, raters = await self.repo.item_counts(ids, rater), await self.repo.rater_counts(ids)
        found = []
        for queue in queues:
            counts = items[queue.id]
            open_for_me = [cid for cid, n, mine in counts if not mine and n < queue.raters_per_item]
            found.append(
                QueueProgress(
                    queue=queue,
                    items=len(counts),
                    complete=sum(1 for _cid, n, _mine in counts if n >= queue.raters_per_item),
                    mine=sum(1 for _cid, _n, mine in counts if mine),
                    left_for_me=len(open_for_me),
                    raters=raters[queue.id],
                    next_comparison_id=open_for_me[0] if open_for_me else None,
                )
            )
        return found

    async def all_progress(self, rater: str) -> Sequence[QueueProgress]:
        return await self.progresses(await self.repo.newest_first(), rater)
