"""Blind views, reveals and queue progress as the API and pages show them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from fastapi import Query, Response

from app.core.types import IsoDateTime
from app.models import Comparison, Rating
from app.rating.queues import QueueProgress
from app.rating.schemas import (
    BlindComparisonOut,
    BlindOutputOut,
    DimensionOut,
    QueueOut,
    RaterProgressOut,
    RatingOut,
    RevealedOutputOut,
)
from app.rating.service import BlindView, labelled, score_map


def rating_out(
    rating: Rating,
    comparison: Comparison,
    scores: Mapping[int, Mapping[str, int]] | None = None,
    *,
    unrated_turns: int = 0,
) -> RatingOut:
    """The reveal: each label the rater saw, the variant behind it, and the rater's scores and rank (`scores`
    as {output id: {dimension: score}}, by default the loaded rating's own). With `unrated_turns` (a session
    turn whose other turns the rater has yet to rate) the labels, scores and ranks only."""
    outputs = {o.id: o for o in comparison.outputs}
    scores = score_map(rating) if scores is None else scores
    order = [o for o in rating.display_order or [] if o in outputs]
    order += sorted(set(scores) - set(order))
    revealed = []
    for output_id, label in labelled(order).items():
        variant = outputs[output_id].variant_version.variant
        shown = not unrated_turns
        revealed.append(
            RevealedOutputOut(
                label=label,
                output_id=output_id if shown else None,
                variant_id=variant.id if shown else None,
                variant=variant.name if shown else None,
                strategy=variant.strategy if shown else None,
                rank=(rating.ranking or {}).get(str(output_id)),
                scores=dict(scores.get(output_id, {})),
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
        withheld=None
        if not unrated_turns
        else f"who wrote what is shown once you have rated every turn of this conversation ({unrated_turns} left)",
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


def queue_out(p: QueueProgress) -> QueueOut:
    return QueueOut(
        id=p.queue.id,
        name=p.queue.name,
        raters_per_item=p.queue.raters_per_item,
        reveal_together=p.queue.reveal_together,
        items=p.items,
        complete=p.complete,
        mine=p.mine,
        left_for_me=p.left_for_me,
        raters=[RaterProgressOut(rater=r, rated=n) for r, n in p.raters],
        created_at=p.queue.created_at,
    )


Kind = Literal["ratings.csv", "ratings.jsonl", "dpo.jsonl", "chat.jsonl"]


MEDIA = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}


def export_response(kind: Kind, body: str) -> Response:
    """The download of one of the EXPORTS, as an attachment."""
    headers = {"Content-Disposition": f'attachment; filename="triptych-{kind}"'}
    return Response(body, media_type=MEDIA[kind.rsplit(".", 1)[1]], headers=headers)


Since = Annotated[IsoDateTime | None, Query(description="only comparisons created at or after")]


Until = Annotated[IsoDateTime | None, Query(description="only comparisons created before")]


Dataset = Annotated[str | None, Query(max_length=120)]


Tag = Annotated[str | None, Query(max_length=60)]


MinScore = Annotated[float, Query(ge=1, le=5, description="chat.jsonl: the least mean score of a top answer")]


