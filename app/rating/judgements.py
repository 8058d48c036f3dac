"""Relevance marks on retrieved chunks, by raters who have seen the answer revealed."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.errors import Invalid, NotFound
from app.core.readable import blind_to
from app.models import ChunkJudgement, Output
from app.rating.repository import JudgementRepository


class JudgementService:
    def __init__(self, session: AsyncSession):
        self.session = session
        self.repo = JudgementRepository(session)

    async def _shown_revealed(self, output_id: int, principal: Principal) -> Output:
        """The output, if the caller may see which variant wrote it; otherwise 404, exactly as for a missing
        output, so a blind rater learns nothing (not even which answer retrieved chunks, or how many)."""
        found = await self.repo.output_with_comparison(output_id)
        if found is None:
            raise NotFound(f"output {output_id} not found")
        output, comparison = found
        rated = await self.repo.has_rated(comparison.id, principal.name)
        if blind_to(principal, created_by=comparison.created_by, has_rated=rated):
            raise NotFound(f"output {output_id} not found")
        return output

    async def judge(self, output_id: int, rank: int, principal: Principal, relevant: bool) -> ChunkJudgement:
        """Create or change this rater's mark on the output's rank-th chunk."""
        output = await self._shown_revealed(output_id, principal)
        rater = principal.name
        if not 1 <= rank <= len(output.contexts or []):
            raise Invalid(f"rank must be between 1 and {len(output.contexts or [])} for output {output_id}")
        existing = await self.repo.mark_by(output_id, rank, rater)
        judgement = existing or ChunkJudgement(output_id=output_id, rank=rank, rater=rater, relevant=relevant)
        judgement.relevant = relevant
        self.session.add(judgement)
        await self.session.flush()
        return judgement

    async def marks(self, output_ids: list[int], rater: str) -> dict[int, dict[int, bool]]:
        """This rater's marks: output -> rank -> relevant."""
        rows = await self.repo.marks_of(output_ids, rater)
        marks: dict[int, dict[int, bool]] = defaultdict(dict)
        for j in rows:
            marks[j.output_id][j.rank] = j.relevant
        return marks
