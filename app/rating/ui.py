"""HTML pages: rate blind, review queues, chunk relevance marks, and the leaderboard's download links."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from app.accounts.auth import UiAdmin, UiRater, UiUser
from app.comparisons.deps import FeedDep
from app.comparisons.feed import ComparisonFeed, Cursor, TextAdded
from app.comparisons.presenters import answer_so_far
from app.core.auth import Principal
from app.core.errors import Conflict, DomainError, Forbidden, Invalid, NotFound
from app.core.filters import Filters
from app.core.sse import KEEP_ALIVE, event_stream, sse_event
from app.core.types import Id
from app.core.web import answer_html, form_errors, redirect_to, render
from app.models import Comparison
from app.rating.deps import ExportsDep, JudgementsDep, QueuesDep, RatingsDep
from app.rating.presenters import Dataset, Kind, MinScore, Tag, export_response, rating_out
from app.rating.schemas import QueueIn, RatingIn
from app.rating.service import BlindView, RatingService

router = APIRouter()


def _typed_values(form: FormData, view: BlindView) -> dict[str, object]:
    """What the rater entered, to put back on the form when it needs fixing."""
    return {
        "scores": {
            (i.label, d.key): str(form.get(f"score-{i.label}-{d.key}", ""))
            for i in view.items
            for d in view.rubric
        },
        "ranks": {i.label: str(form.get(f"rank-{i.label}", "")) for i in view.items},
        "comment": str(form.get("comment", "")),
        "corrected_answer": str(form.get("corrected_answer", "")),
    }


def _stored_values(view: BlindView) -> dict[str, object]:
    rating = view.rating
    if rating is None:
        return {"scores": {}, "ranks": {}, "comment": "", "corrected_answer": ""}
    label_of = {i.output_id: i.label for i in view.items}
    return {
        "scores": {
            (label_of[s.output_id], s.dimension): str(s.score)
            for s in rating.scores
            if s.output_id in label_of
        },
        "ranks": {label_of[int(o)]: str(r) for o, r in (rating.ranking or {}).items() if int(o) in label_of},
        "comment": rating.comment,
        "corrected_answer": rating.corrected_answer,
    }


def _rating_from_form(form: FormData, view: BlindView) -> RatingIn:
    """Fields score-<label>-<dimension> (1-5) and rank-<label>; a blank field is a clear error, not a zero."""
    scores: dict[str, dict[str, int]] = {}
    ranking: dict[str, int] = {}
    problems = []
    for item in view.items:
        for dim in view.rubric:
            raw = str(form.get(f"score-{item.label}-{dim.key}", "")).strip()
            if not raw.isdigit() or not 1 <= int(raw) <= 5:
                problems.append(f"{item.label}: choose a {dim.label.lower()} score from 1 to 5")
            else:
                scores.setdefault(item.label, {})[dim.key] = int(raw)
        raw_rank = str(form.get(f"rank-{item.label}", "")).strip()
        if not raw_rank.isdigit() or not 1 <= int(raw_rank) <= len(view.items):
            problems.append(f"{item.label}: choose a rank from 1 to {len(view.items)}")
        else:
            ranking[item.label] = int(raw_rank)
    if problems:
        raise _FormProblems(problems)
    return RatingIn(
        scores=scores,
        ranking=ranking,
        comment=str(form.get("comment", "")),
        corrected_answer=str(form.get("corrected_answer", "")),
    )


class _FormProblems(Invalid):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


async def _rate_context(ratings: RatingService, comparison_id: Id, user: Principal) -> dict[str, object]:
    """The blind view, or (still answering) the answers streaming in under their labels."""
    try:
        view = await ratings.blind_view(comparison_id, user.name)
    except Conflict as exc:
        context: dict[str, object] = {"comparison_id": comparison_id, "problem": exc.detail}
        if await ratings.still_answering(comparison_id):
            comparison, labels = await ratings.watch(comparison_id, user.name)
            context |= {"waiting": True, "query": comparison.query, "labels": list(labels.values())}
        return context
    reveal = None
    if view.rating is not None:
        unrated = await ratings.unrated_turns(view.comparison, user.name)
        reveal = rating_out(view.rating, view.comparison, unrated_turns=unrated)
    return {
        "view": view,
        "reveal": reveal,
        "values": _stored_values(view),
        "comparison_id": comparison_id,
        "earlier": await ratings.earlier_questions(view.comparison),
    }


@router.get("/comparisons/{comparison_id}/rate", name="rate_page", response_class=HTMLResponse)
async def rate_page(
    request: Request,
    comparison_id: Id,
    user: UiRater,
    ratings: RatingsDep,
    queues: QueuesDep,
    queue: Annotated[Id | None, Query()] = None,
    saved: Annotated[bool, Query()] = False,
    previous: Annotated[Id | None, Query()] = None,
    together: Annotated[bool | None, Query(description="show each answer only once all are in")] = None,
) -> HTMLResponse:
    """Answers under A, B, C… in this rater's own order; names appear only after the rating is saved. While
    the variants answer, the answers stream in under their labels, or (`together`, a review queue's default)
    appear only once all are in."""
    context = await _rate_context(ratings, comparison_id, user)
    if together is None:
        together = False
        if queue is not None:
            with contextlib.suppress(NotFound):  # a stale queue link still rates
                together = (await queues.get(queue)).reveal_together
    # `previous`: the item just rated in a queue, whose reveal is one click away.
    context |= {"queue": queue, "saved": saved, "previous": previous, "together": together}
    return render(request, "pages/rate.html", context)


async def blind_events(
    feed: ComparisonFeed, comparison: Comparison, labels: dict[int, str], together: bool
) -> AsyncIterator[str]:
    """The answers under their labels as they are written (`answer-A`...), `progress` as each is stored, then
    `end`. Nothing names a variant, endpoint or model, nor gives latency or token counts; with `together`
    no answer is sent at all (the page loads them all at `end`), so nor is the order they finish in."""
    texts: dict[int, str] = {}
    stored = 0
    async for event in feed.follow(comparison, Cursor()):
        if event is None:
            yield KEEP_ALIVE
        elif isinstance(event, TextAdded):
            text = texts[event.output_id] = texts.get(event.output_id, "") + event.text
            if not together:
                yield sse_event(f"answer-{labels[event.output_id]}", answer_so_far(text))
        else:
            stored += 1
            if not together:
                done = event.output.status == "done"
                html = str(answer_html(event.output.text)) if done else '<p class="muted">This answer failed.</p>'
                yield sse_event(f"answer-{labels[event.output.id]}", html)
            yield sse_event("progress", f"{stored} of {len(labels)} answers are in")
    yield sse_event("end", "")


@router.get("/comparisons/{comparison_id}/rate/stream", name="rate_stream", response_class=Response)
async def rate_stream(
    comparison_id: Id,
    user: UiRater,
    ratings: RatingsDep,
    feed: FeedDep,
    together: Annotated[bool, Query(description="send no answer before all are in")] = False,
) -> Response:
    """The blind rating page's server-sent events while the variants answer."""
    comparison, labels = await ratings.watch(comparison_id, user.name)
    return event_stream(blind_events(feed, comparison, labels, together))


@router.post("/comparisons/{comparison_id}/rate", name="submit_rating_ui", response_model=None)
async def submit_rating(
    request: Request,
    comparison_id: Id,
    user: UiRater,
    ratings: RatingsDep,
    queues: QueuesDep,
    queue: Annotated[Id | None, Query()] = None,
) -> Response:
    view = await ratings.blind_view(comparison_id, user.name)
    form = await request.form()
    try:
        await ratings.submit(comparison_id, user.name, _rating_from_form(form, view))
    except _FormProblems as exc:
        errors = exc.problems
    except (ValidationError, DomainError) as exc:
        errors = form_errors(exc)
    else:
        if queue is not None:
            progress = await queues.progress(await queues.get(queue), user.name)
            if (following := progress.next_comparison_id) is not None:
                after = {"queue": queue, "previous": comparison_id}
                return redirect_to(request, "rate_page", after, comparison_id=following)
            return redirect_to(request, "queue_page", queue_id=queue)
        return redirect_to(request, "rate_page", {"saved": "true"}, comparison_id=comparison_id)
    context: dict[str, object] = {"view": view, "reveal": None, "values": _typed_values(form, view)}
    context |= {"errors": errors, "comparison_id": comparison_id, "queue": queue}
    return render(request, "pages/rate.html", context, status_code=422)


@router.get("/queues", name="queues_page", response_class=HTMLResponse)
async def queues_page(request: Request, user: UiUser, queues: QueuesDep) -> HTMLResponse:
    return render(request, "pages/queues.html", {"queues": await queues.all_progress(user.name)})


@router.post("/queues", name="create_queue_ui", response_model=None)
async def create_queue(
    request: Request,
    user: UiAdmin,
    queues: QueuesDep,
    name: Annotated[str, Form(max_length=200)] = "",
    raters_per_item: Annotated[str, Form(max_length=10)] = "3",
    comparison_ids: Annotated[str, Form(max_length=60_000)] = "",
    dataset: Annotated[str, Form(max_length=200)] = "",
    tag: Annotated[str, Form(max_length=100)] = "",
    experiment_id: Annotated[Id | None, Form()] = None,
    reveal_together: Annotated[bool, Form()] = False,
) -> Response:
    """Comparison ids separated by commas or spaces, or a dataset, tag and/or experiment that selects them."""
    try:
        ids = [int(p) for p in comparison_ids.replace(",", " ").split()]
    except ValueError:
        ids, errors = [], ["comparison ids must be whole numbers separated by commas or spaces"]
    else:
        try:
            data = QueueIn(
                name=name,
                raters_per_item=raters_per_item,
                comparison_ids=ids,
                dataset=dataset.strip(),
                tag=tag.strip(),
                experiment_id=experiment_id,
                reveal_together=reveal_together,
            )
            queue = await queues.create(data, user.name)
            return redirect_to(request, "queue_page", queue_id=queue.id)
        except (ValidationError, DomainError) as exc:
            errors = form_errors(exc)
    typed = {
        "name": name,
        "raters_per_item": raters_per_item,
        "comparison_ids": comparison_ids,
        "reveal_together": reveal_together,
    }
    context = {
        "queues": await queues.all_progress(user.name),
        "errors": errors,
        "typed": typed | {"dataset": dataset, "tag": tag},
    }
    return render(request, "pages/queues.html", context, status_code=422)


@router.get("/queues/{queue_id}", name="queue_page", response_class=HTMLResponse)
async def queue_page(request: Request, queue_id: Id, user: UiUser, queues: QueuesDep) -> HTMLResponse:
    progress = await queues.progress(await queues.get(queue_id), user.name)
    return render(request, "pages/queue.html", {"p": progress})


@router.post("/queues/{queue_id}/delete", name="delete_queue_ui", response_model=None)
async def delete_queue(request: Request, queue_id: Id, _user: UiAdmin, queues: QueuesDep) -> Response:
    """Only the queue goes; its comparisons and their ratings stay."""
    await queues.delete(queue_id)
    return redirect_to(request, "queues_page")


@router.post(
    "/outputs/{output_id}/contexts/{rank}/judgement", name="judge_chunk_ui", response_class=HTMLResponse
)
async def judge_chunk(
    request: Request,
    output_id: Id,
    rank: Id,
    user: UiRater,
    judgements: JudgementsDep,
    relevant: Annotated[str, Form()] = "",
) -> HTMLResponse:
    """A rater marks one retrieved chunk relevant or not; answers with the updated buttons."""
    await judgements.judge(output_id, rank, user, relevant == "yes")
    return render(
        request, "partials/_judgement.html", {"output_id": output_id, "rank": rank, "mark": relevant == "yes"}
    )


@router.get("/exports/{kind}", name="export_page", response_class=Response)
async def export_download(
    kind: Kind,
    user: UiUser,
    exports: ExportsDep,
    since: Annotated[str, Query(max_length=40)] = "",
    until: Annotated[str, Query(max_length=40)] = "",
    dataset: Dataset = None,
    tag: Tag = None,
    min_score: MinScore = 4.0,
) -> Response:
    """The leaderboard page's download links (dates as the page's filter form sends them)."""
    if user.role == "rater":
        raise Forbidden("raters see ratings only through blind rating: ask an admin or a viewer for exports")
    try:
        start = datetime.fromisoformat(since) if since else None
        end = datetime.fromisoformat(until) if until else None
    except ValueError:
        raise Invalid("since and until must be dates like 2026-11-01") from None
    filters = Filters(start, end, dataset or None, tag or None)
    return export_response(kind, await exports.body(kind, filters, min_score))
