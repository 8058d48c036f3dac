"""Relevance marks on retrieved chunks, and the retrieval metrics they give (precision@k, MRR)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.errors import Invalid, NotFound
from app.models import ChunkJudgement, Comparison, Output, Rating, Variant, VariantVersion
from app.pipelines.base import RETRIEVAL_STRATEGIES
from app.repository.comparisons import filtered
from app.services.blind import blind_to


@dataclass(frozen=True)
class RetrievalMetrics:
    variant_id: int
    variant_name: str
    outputs_judged: int
    precision_at_k: float
    mrr: float
    k: int


def precision_and_mrr(judged: dict[int, dict[int, bool]], k: int) -> tuple[float, float]:
    """Mean precision@k and mean reciprocal rank over outputs; `judged` maps output -> rank -> relevant.

    Unjudged ranks count as not relevant: precision is a lower bound until every chunk is marked.
    """
    if not judged:
        return 0.0, 0.0
    precisions, reciprocal = [], []
    for ranks in judged.values():
        precisions.append(sum(1 for r in range(1, k + 1) if ranks.get(r)) / k)
        first = min((r for r, relevant in ranks.items() if relevant), default=None)
        reciprocal.append(1.0 / first if first else 0.0)
    return sum(precisions) / len(precisions), sum(reciprocal) / len(reciprocal)


def majority(votes: list[bool]) -> bool:
    """Several raters on one chunk: relevant when at least half say so."""
    return sum(votes) * 2 >= len(votes)


class JudgementService:
    def __init__(self, session: AsyncSession):
        self.session = session

    async def _shown_revealed(self, output_id: int, principal: Principal) -> Output:
        """The output, if the caller may see which variant wrote it; otherwise 404, exactly as for a missing
        output, so a blind rater learns nothing (not even which answer retrieved chunks, or how many)."""
        output = await self.session.get(Output, output_id)
        comparison = await self.session.get(Comparison, output.comparison_id) if output else None
        if output is None or comparison is None:
            raise NotFound(f"output {output_id} not found")
        rated = await self.session.scalar(
            select(Rating.id).where(Rating.comparison_id == comparison.id, Rating.rater == principal.name)
        )
        if blind_to(principal, created_by=comparison.created_by, has_rated=rated is not None):
            raise NotFound(f"output {output_id} not found")
        return output

    async def judge(self, output_id: int, rank: int, principal: Principal, relevant: bool) -> ChunkJudgement:
        """Create or change this rater's mark on the output's rank-th chunk."""
        output = await self._shown_revealed(output_id, principal)
        rater = principal.name
        if not 1 <= rank <= len(output.contexts or []):
            raise Invalid(f"rank must be between 1 and {len(output.contexts or [])} for output {output_id}")
        existing = await self.session.scalar(
            select(ChunkJudgement).where(
                ChunkJudgement.output_id == output_id,
                ChunkJudgement.rank == rank,
                ChunkJudgement.rater == rater,
            )
        )
        judgement = existing or ChunkJudgement(output_id=output_id, rank=rank, rater=rater, relevant=relevant)
        judgement.relevant = relevant
        self.session.add(judgement)
        await self.session.flush()
        return judgement

    async def marks(self, output_ids: list[int], rater: str) -> dict[int, dict[int, bool]]:
        """This rater's marks: output -> rank -> relevant."""
        rows = await self.session.scalars(
            select(ChunkJudgement).where(
                ChunkJudgement.output_id.in_(output_ids), ChunkJudgement.rater == rater
            )
        )
        marks: dict[int, dict[int, bool]] = defaultdict(dict)
        for j in rows:
            marks[j.output_id][j.rank] = j.relevant
        return marks

    async def metrics(self, filters: Any = None) -> list[RetrievalMetrics]:
        """Precision@k and MRR per retrieval variant, over every output with at least one mark, from the
        comparisons the leaderboard `filters` (app.services.leaderboard.Filters) let through."""
        stmt = (
            select(Variant.id, Variant.name, VariantVersion.top_k, ChunkJudgement)
            .join(VariantVersion, VariantVersion.variant_id == Variant.id)
            .join(Output, Output.variant_version_id == VariantVersion.id)
            .join(ChunkJudgement, ChunkJudgement.output_id == Output.id)
            .where(Variant.strategy.in_(RETRIEVAL_STRATEGIES))
        )
        if filters is not None:
            stmt = filtered(stmt.join(Comparison, Comparison.id == Output.comparison_id), filters)
        rows = (await self.session.execute(stmt)).all()
        votes: dict[int, dict[int, dict[int, list[bool]]]] = defaultdict(
            lambda: defaultdict(lambda: defaultdict(list))
        )
        names: dict[int, str] = {}
        ks: dict[int, int] = {}
        for variant_id, name, top_k, judgement in rows:
            names[variant_id] = name
            ks[variant_id] = max(ks.get(variant_id, 0), top_k)
            votes[variant_id][judgement.output_id][judgement.rank].append(judgement.relevant)
        results = []
        for variant_id, outputs in sorted(votes.items()):
            judged = {o: {r: majority(v) for r, v in ranks.items()} for o, ranks in outputs.items()}
            precision, mrr = precision_and_mrr(judged, ks[variant_id])
            results.append(
                RetrievalMetrics(
                    variant_id,
                    names[variant_id],
                    len(judged),
                    round(precision, 4),
                    round(mrr, 4),
                    ks[variant_id],
                )
            )
        return results
