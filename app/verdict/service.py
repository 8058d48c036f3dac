"""The verdict's rules: load the evidence (blind raters see only what they rated) and analyse it off the loop."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.errors import Invalid, NotFound
from app.verdict.analysis import analyse, compare
from app.verdict.evidence import Evidence, PairedComparison, Verdict
from app.verdict.repository import load_evidence


class VerdictService:
    """Verdicts as `reader` may see them: a blind rater's count only the comparisons they revealed."""

    def __init__(self, session: AsyncSession, reader: Principal):
        self.session = session
        self.reader = reader

    async def evidence(self, experiment_id: int) -> Evidence:
        evidence = await load_evidence(self.session, experiment_id, self.reader)
        if evidence is None:
            raise NotFound(f"experiment {experiment_id} not found")
        return evidence

    async def verdict(self, experiment_id: int) -> Verdict:
        evidence = await self.evidence(experiment_id)
        # Bootstraps are CPU work: keep the event loop free for other requests.
        return await asyncio.to_thread(analyse, evidence)

    async def verdict_and_evidence(self, experiment_id: int) -> tuple[Verdict, Evidence]:
        """Both, for pages that name the items a verdict counts (a fine-tune's forgotten probes)."""
        evidence = await self.evidence(experiment_id)
        return await asyncio.to_thread(analyse, evidence), evidence

    async def compare(
        self, experiment_id: int, a_variant_id: int, b_variant_id: int
    ) -> PairedComparison:
        """A against B, item by item; a and b are variant ids of the experiment."""
        evidence = await self.evidence(experiment_id)
        version_of = {v.variant_id: v.version_id for v in evidence.variants}
        for field, variant_id in (("a", a_variant_id), ("b", b_variant_id)):
            if variant_id not in version_of:
                raise Invalid(f"{field}: variant {variant_id} is not part of experiment {experiment_id}")
        if a_variant_id == b_variant_id:
            raise Invalid("b: compare two different variants")
        return await asyncio.to_thread(compare, evidence, version_of[a_variant_id], version_of[b_variant_id])
