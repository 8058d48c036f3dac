"""ORM objects -> API schemas; the UI renders the same shapes, so both show the same facts."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import UTC

from app.catalog.schemas import ExampleOut, ExampleSetOut, VariantOut
from app.comparisons.schemas import ComparisonOut, ComparisonSummary, ContextOut, OutputOut, VariantRef
from app.core.auth import Principal
from app.knowledge.schemas import IngestJobOut, KnowledgeBaseOut
from app.leaderboard.schemas import LeaderboardOut, MeanOut, RetrievalMetricsOut, StandingOut
from app.models import Comparison, ExampleSet, IngestJob, Output, Rating, Variant, utcnow
from app.rating.schemas import BlindComparisonOut, BlindOutputOut, DimensionOut, RatingOut, RevealedOutputOut
from app.services.knowledge import KnowledgeBaseSummary
from app.services.leaderboard import Leaderboard
from app.services.ratings import BlindView, RatingService, labelled
from app.services.variants import current_version, stand_in_notice, version_config
from app.stats.intervals import MeanInterval


def variant_out(variant: Variant) -> VariantOut:
    version = current_version(variant)
    endpoint = version.endpoint
    return VariantOut(
        id=variant.id,
        name=variant.name,
        strategy=variant.strategy,
        description=variant.description,
        version=version.version,
        version_id=version.id,
        config_hash=version.config_hash,
        config=version_config(version),
        endpoint={"id": endpoint.id, "name": endpoint.name, "kind": endpoint.kind, "model": endpoint.model},
        notice=stand_in_notice(variant),
        archived_at=variant.archived_at,
    )


def output_out(output: Output) -> OutputOut:
    version = output.variant_version
    return OutputOut(
        id=output.id,
        variant=VariantRef(
            id=version.variant.id,
            name=version.variant.name,
            strategy=version.variant.strategy,
            version=version.version,
            notice=stand_in_notice(version.variant, version),
        ),
        status=output.status,
        text=output.text,
        truncated=output.truncated,
        model=output.model,
        latency_ms=output.latency_ms,
        ttft_ms=output.ttft_ms,
        prompt_tokens=output.prompt_tokens,
        completion_tokens=output.completion_tokens,
        cost_usd=output.cost_usd,
        contexts=[ContextOut.model_validate(c) for c in output.contexts or []],
        error=output.error,
        prompt=list(output.prompt or []),
    )


def rating_out(rating: Rating, comparison: Comparison) -> RatingOut:
    """The reveal: each label the rater saw, the variant behind it, and the rater's scores and rank."""
    outputs = {o.id: o for o in comparison.outputs}
    order = [o for o in rating.display_order or [] if o in outputs]
    order += sorted({s.output_id for s in rating.scores} - set(order))
    scores: dict[int, dict[str, int]] = {}
    for score in rating.scores:
        scores.setdefault(score.output_id, {})[score.dimension] = score.score
    revealed = []
    for output_id, label in labelled(order).items():
        variant = outputs[output_id].variant_version.variant
        revealed.append(
            RevealedOutputOut(
                label=label,
                output_id=output_id,
                variant_id=variant.id,
                variant=variant.name,
                strategy=variant.strategy,
                rank=(rating.ranking or {}).get(str(output_id)),
                scores=scores.get(output_id, {}),
            )
        )
    return RatingOut(
        id=rating.id,
        comparison_id=rating.comparison_id,
        rater=rating.rater,
        comment=rating.comment,
        corrected_answer=rating.corrected_answer,
        created_at=rating.created_at,
        updated_at=rating.updated_at,
        outputs=revealed,
    )


def comparison_out(comparison: Comparison) -> ComparisonOut:
    return ComparisonOut(
        id=comparison.id,
        query=comparison.query,
        created_at=comparison.created_at,
        dataset=comparison.dataset,
        tags=[t.tag for t in comparison.tags],
        outputs=[output_out(o) for o in comparison.outputs],
        ratings=[rating_out(r, comparison) for r in comparison.ratings],
    )


def comparison_summary(comparison: Comparison, viewer: Principal) -> ComparisonSummary:
    """A history row; for a rater who has not rated it, nothing about its answers or others' ratings."""
    blind = not RatingService.sees_identities(comparison, viewer)
    return ComparisonSummary(
        id=comparison.id,
        query=comparison.query,
        created_at=comparison.created_at,
        dataset=comparison.dataset,
        tags=[t.tag for t in comparison.tags],
        variant_count=len(comparison.outputs),
        error_count=None if blind else sum(1 for o in comparison.outputs if o.status == "error"),
        rating_count=None if blind else len(comparison.ratings),
    )


def example_set_out(example_set: ExampleSet) -> ExampleSetOut:
    return ExampleSetOut(
        id=example_set.id,
        name=example_set.name,
        description=example_set.description,
        example_count=len(example_set.examples),
        archived_at=example_set.archived_at,
        examples=[ExampleOut.model_validate(e) for e in example_set.examples],
    )


def job_out(job: IngestJob) -> IngestJobOut:
    """Progress with a throughput figure (chunks per second since the job started)."""
    out = IngestJobOut.model_validate(job)
    if job.started_at is not None and job.chunks_done:
        end = job.finished_at or utcnow()
        started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
        end = end if end.tzinfo else end.replace(tzinfo=UTC)
        seconds = max((end - started).total_seconds(), 1e-3)
        out.chunks_per_s = round(job.chunks_done / seconds, 1)
    return out


def knowledge_base_out(summary: KnowledgeBaseSummary) -> KnowledgeBaseOut:
    kb = summary.kb
    return KnowledgeBaseOut(
        id=kb.id,
        name=kb.name,
        description=kb.description,
        embedding_model=kb.embedding_model,
        documents=summary.documents,
        chunks=summary.chunks,
        created_at=kb.created_at,
    )


def leaderboard_out(board: Leaderboard) -> LeaderboardOut:
    def mean(interval: MeanInterval) -> MeanOut:
        finite = math.isfinite(interval.lower)
        return MeanOut(
            mean=round(interval.mean, 4),
            lower=round(interval.lower, 4) if finite else None,
            upper=round(interval.upper, 4) if finite else None,
            n=interval.n,
        )

    return LeaderboardOut(
        ratings=board.ratings,
        raters=board.raters,
        standings=[
            StandingOut(
                id=s.id,
                name=s.name,
                strategy=s.strategy,
                ratings=s.ratings,
                means={dim: mean(m) for dim, m in s.means.items()},
                strength=round(s.strength, 4),
                strength_lower=round(s.strength_lower, 4),
                strength_upper=round(s.strength_upper, 4),
                p_best=round(s.p_best, 4),
            )
            for s in board.standings
        ],
        win_rate=[[None if v is None else round(v, 4) for v in row] for row in board.win_rate],
        games=board.games,
        agreement={k: None if v is None else round(v, 4) for k, v in board.agreement.items()},
        first_shown_wins=board.first_shown_wins,
        first_shown_expected=board.first_shown_expected,
        retrieval=[RetrievalMetricsOut(**asdict(m)) for m in board.retrieval],
    )


def blind_out(view: BlindView) -> BlindComparisonOut:
    """Only labels and texts: no ids, names, strategies, latencies, token counts or retrieved chunks."""
    return BlindComparisonOut(
        comparison_id=view.comparison.id,
        query=view.comparison.query,
        rubric=[DimensionOut(key=d.key, label=d.label, description=d.description) for d in view.rubric],
        outputs=[BlindOutputOut(label=i.label, text=i.text) for i in view.items],
        rated=view.rating is not None,
    )
