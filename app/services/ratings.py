"""Ratings: one per rater per comparison (a resubmission edits it), a 1-5 score per output."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import Invalid, NotFound
from app.models import Rating, RatingScore
from app.repository import ComparisonRepository
from app.schemas import RatingIn


class RatingService:
    def __init__(self, session: AsyncSession):
        self.session = session
        self.repo = ComparisonRepository(session)

    async def submit(self, comparison_id: int, rater: str, data: RatingIn) -> Rating:
        """Validate that every score names an output of this comparison, then create or replace."""
        comparison = await self.repo.get(comparison_id)
        if comparison is None:
            raise NotFound(f"comparison {comparison_id} not found")
        output_ids = {o.id for o in comparison.outputs}
        scored = [s.output_id for s in data.scores]
        if unknown := sorted(set(scored) - output_ids):
            raise Invalid(f"output id(s) {unknown} are not part of comparison {comparison_id}")
        if len(scored) != len(set(scored)):
            raise Invalid("each output may be scored once per rating")
        rating = await self.repo.rating_by(comparison_id, rater)
        if rating is None:
            rating = Rating(comparison_id=comparison_id, rater=rater)
            self.repo.add(rating)
        rating.comment = data.comment.strip()
        rating.display_order = [o.id for o in comparison.outputs]
        rating.scores = [RatingScore(output_id=s.output_id, score=s.score) for s in data.scores]
        await self.session.flush()
        return rating
