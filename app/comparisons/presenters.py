"""Comparisons and outputs as the API and pages show them."""

from __future__ import annotations

from collections import OrderedDict

from app.catalog.service import stand_in_notice
from app.comparisons.schemas import (
    ComparisonOut,
    ComparisonSummary,
    ContextOut,
    OutputOut,
    SessionOut,
    SessionSummary,
    VariantRef,
)
from app.core.web import answer_html
from app.models import Comparison, ComparisonSession, Output
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
        session_id=comparison.session_id,
        turn=comparison.turn,
        outputs=[output_out(o) for o in comparison.outputs],
        ratings=[rating_out(r, comparison) for r in comparison.ratings],
    )


def session_out(conversation: ComparisonSession) -> SessionOut:
    return SessionOut(
        id=conversation.id,
        title=conversation.title,
        created_by=conversation.created_by,
        created_at=conversation.created_at,
        turns=[comparison_out(turn) for turn in conversation.turns],
    )


def session_summary(conversation: ComparisonSession) -> SessionSummary:
    return SessionSummary(
        id=conversation.id, title=conversation.title, created_at=conversation.created_at, turn_count=len(conversation.turns)
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


# Answers so far as sanitised HTML, by their text: every viewer of a running comparison reads the same texts
# (app/comparisons/live.py wakes them together), so one render serves them all.
_SNAPSHOTS: OrderedDict[str, str] = OrderedDict()
_SNAPSHOTS_KEPT = 1024


def answer_so_far(text: str) -> str:
    """A running answer as the column shows it: Markdown rendered and sanitised again from the whole text so
    far, so a tag or link split across deltas is judged whole; a caret marks where writing goes on."""
    html = _SNAPSHOTS.get(text)
    if html is None:
        html = _SNAPSHOTS[text] = f'{answer_html(text)}<span class="caret" aria-hidden="true"></span>'
        if len(_SNAPSHOTS) > _SNAPSHOTS_KEPT:
            _SNAPSHOTS.popitem(last=False)
    return html
