"""Everything an experiment's verdict is computed from, in a handful of queries."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from app.core.auth import Principal
from app.core.readable import readable
from app.models import (
    Comparison,
    DatasetItem,
    DatasetVersion,
    Experiment,
    JudgeVerdict,
    Output,
    OutputMetric,
    Rating,
    VariantVersion,
)
from app.verdict.evidence import Evidence, HumanRanking, JudgeEvidence, OutputEvidence, VariantInfo


async def load_evidence(session: AsyncSession, experiment_id: int, reader: Principal) -> Evidence | None:
    """The experiment's outputs with metrics, human ratings and judge verdicts, from the comparisons `reader`
    may read (a blind rater: those they revealed)."""
    experiment = await session.scalar(
        select(Experiment)
        .where(Experiment.id == experiment_id)
        .options(selectinload(Experiment.dataset_version))
    )
    if experiment is None:
        return None
    version: DatasetVersion = experiment.dataset_version
    ids = [v.variant_version_id for v in experiment.variants]
    versions = {
        v.id: v
        for v in await session.scalars(
            select(VariantVersion)
            .where(VariantVersion.id.in_(ids))
            .options(selectinload(VariantVersion.variant), selectinload(VariantVersion.endpoint))
        )
    }
    variants = [
        VariantInfo(
            version_id=i,
            variant_id=versions[i].variant_id,
            name=versions[i].variant.name,
            strategy=versions[i].variant.strategy,
            fine_tuned=versions[i].endpoint.is_fine_tuned,
        )
        for i in ids
    ]
    comparisons = select(Comparison.id).where(
        Comparison.experiment_id == experiment_id, readable(Comparison.id, reader, without_comparison=False)
    )
    rows = (
        await session.execute(
            select(Output, Comparison.dataset_item_id, Comparison.sample, DatasetItem.query, DatasetItem.tags)
            .join(Comparison, Output.comparison_id == Comparison.id)
            .join(DatasetItem, Comparison.dataset_item_id == DatasetItem.id)
            .where(Output.comparison_id.in_(comparisons))
        )
    ).all()
    version_of = {o.id: o.variant_version_id for o, *_rest in rows}
    metrics: dict[int, dict[str, tuple[float | None, str]]] = defaultdict(dict)
    metric_rows = await session.execute(
        select(OutputMetric.output_id, OutputMetric.name, OutputMetric.value, OutputMetric.reason)
        .join(Output, Output.id == OutputMetric.output_id)
        .where(Output.comparison_id.in_(comparisons))
    )
    for output_id, name, value, reason in metric_rows.all():
        metrics[output_id][name] = (value, reason)
    ratings = (
        await session.scalars(
            select(Rating).where(Rating.comparison_id.in_(comparisons)).options(selectinload(Rating.scores))
        )
    ).all()
    scores: dict[int, list[float]] = defaultdict(list)
    rankings: list[HumanRanking] = []
    for rating in ratings:
        per_output: dict[int, list[int]] = defaultdict(list)
        for score in rating.scores:
            per_output[score.output_id].append(score.score)
        for output_id, given in per_output.items():
            scores[output_id].append(sum(given) / len(given))
        ranks = {version_of[int(o)]: int(r) for o, r in (rating.ranking or {}).items() if int(o) in version_of}
        if len(ranks) >= 2:
            rankings.append(HumanRanking(rating.comparison_id, rating.rater, ranks))
    verdicts = (
        await session.scalars(select(JudgeVerdict).where(JudgeVerdict.comparison_id.in_(comparisons)))
    ).all()
    judge = [
        JudgeEvidence(
            comparison_id=v.comparison_id,
            a_version_id=version_of[v.output_a_id],
            b_version_id=version_of[v.output_b_id],
            outcome=v.outcome,
            consistent=v.consistent,
            error=v.error is not None,
        )
        for v in verdicts
        if v.output_a_id in version_of and v.output_b_id in version_of
    ]
    probe_tag = version.probe_tag
    outputs = [
        OutputEvidence(
            output_id=o.id,
            comparison_id=o.comparison_id,
            item_id=int(item_id),
            sample=sample,
            version_id=o.variant_version_id,
            ok=o.status == "done",
            error=o.error if o.status == "error" else None,
            pending=o.status == "pending",
            probe=bool(probe_tag) and probe_tag in (tags or []),
            latency_ms=o.latency_ms,
            ttft_ms=o.ttft_ms,
            wait_ms=o.wait_ms,
            cost_usd=o.cost_usd,
            cached=o.cached_from_id is not None,
            metrics=metrics.get(o.id, {}),
            human_scores=tuple(scores.get(o.id, ())),
        )
        for o, item_id, sample, _query, tags in rows
    ]
    return Evidence(
        experiment_id=experiment_id,
        variants=variants,
        outputs=outputs,
        rankings=rankings,
        judge=judge,
        has_judge=experiment.judge_endpoint_id is not None,
        repeats=experiment.repeats,
        queries={int(item_id): query for _o, item_id, _s, query, _t in rows},
        comparisons={(int(item_id), sample): o.comparison_id for o, item_id, sample, _q, _t in rows},
    )
