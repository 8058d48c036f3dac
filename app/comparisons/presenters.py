"""Comparisons and outputs as the API and pages show them."""

from __future__ import annotations

from app.catalog.service import stand_in_notice
from app.comparisons.schemas import ComparisonOut, ComparisonSummary, ContextOut, OutputOut, VariantRef
from app.models import Comparison, Output
from app.rating.presenters import rating_out


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
        wait_ms=output.wait_ms,
        cached_from_id=output.cached_from_id,
        prompt_tokens=output.prompt_tokens,
        completion_tokens=output.completion_tokens,
        cost_usd=output.cost_usd,
        contexts=[ContextOut.model_validate(c) for c in output.contexts or []],
        error=output.error,
        prompt=list(output.prompt or []),
    )


def comparison_out(comparison: Comparison) -> ComparisonOut:
    return ComparisonOut(
        id=comparison.id,
        query=comparison.query,
        created_at=comparison.created_at,
        dataset=comparison.dataset,
        tags=[t.tag for t in comparison.tags],
        experiment_id=comparison.experiment_id,
        outputs=[output_out(o) for o in comparison.outputs],
        ratings=[rating_out(r, comparison) for r in comparison.ratings],
    )


def comparison_summary(comparison: Comparison, revealed: bool) -> ComparisonSummary:
    """A history row; unless revealed to the reader, nothing about its answers or others' ratings."""
    blind = not revealed
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
