"""HTML pages: ask a question, watch the columns fill in; the history of comparisons."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.accounts.auth import UiRater, UiUser
from app.catalog.deps import VariantsDep
from app.catalog.presenters import variant_out
from app.comparisons.deps import FeedDep, ReaderDep, RunnerDep, TurnsDep
from app.comparisons.feed import ComparisonFeed, Cursor, TextAdded
from app.comparisons.presenters import answer_so_far, comparison_out, comparison_summary, output_out
from app.comparisons.reader import BlindUntilRated, ComparisonReader
from app.comparisons.schemas import ComparisonIn, TurnIn
from app.core.auth import Principal
from app.core.deps import SessionsDep
from app.core.errors import DomainError
from app.core.sse import KEEP_ALIVE, event_stream, sse_event
from app.core.types import Id, PageNumber
from app.core.web import (
    error_status,
    form_error_page,
    form_errors,
    is_htmx,
    redirect_to,
    render,
    render_fragment,
)
from app.datasets.deps import DatasetsDep
from app.datasets.presenters import dataset_out
from app.demo import read_jsonl
from app.experiments.deps import ExperimentsDep
from app.experiments.presenters import experiment_out
from app.finetune.deps import FineTuningDep
from app.finetune.presenters import job_out
from app.models import Comparison
from app.rating.deps import JudgementsDep

router = APIRouter()


PAGE_SIZE = 25


def _suggestions() -> list[str]:
    try:
        return [row["query"] for row in read_jsonl("questions.jsonl")[:4]]
    except OSError:
        return []


@router.get("/", name="compare_page", response_class=HTMLResponse)
async def compare_page(
    request: Request,
    _user: UiUser,
    variants: VariantsDep,
    datasets: DatasetsDep,
    experiments: ExperimentsDep,
    fine_tuning: FineTuningDep,
) -> HTMLResponse:
    recent = await experiments.service.recent(limit=1)
    jobs = await fine_tuning.jobs.recent(limit=1)
    context = {
        "variants": [variant_out(v) for v in await variants.list()],
        "suggestions": _suggestions(),
        # One click from here to a whole dataset across every variant, and to the latest run's verdict.
        "offer_datasets": [dataset_out(s) for s in await datasets.list()][:3],
        "latest_experiment": experiment_out(await experiments.service.overview(recent[0])) if recent else None,
        # A fine-tune in the making (the demo's first start queues one) shows its progress here.
        "latest_job": job_out(jobs[0]) if jobs else None,
    }
    return render(request, "pages/compare.html", context)


@router.post("/comparisons", name="create_comparison_ui", response_model=None)
async def create_comparison(
    request: Request,
    user: UiRater,
    runner: RunnerDep,
    reader: ReaderDep,
    variants: VariantsDep,
    query: Annotated[str, Form()] = "",
    variant_ids: Annotated[list[Id], Form()] = [],  # noqa: B006 - FastAPI copies defaults
    dataset: Annotated[str, Form(max_length=200)] = "",
    tags: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """Store the comparison, run it in the background, answer with the (polling) columns."""
    errors: list[str] = []
    code = status.HTTP_422_UNPROCESSABLE_CONTENT
    tag_list = [t.strip() for t in tags.split(",") if t.strip()]
    try:
        data = ComparisonIn(query=query, variant_ids=variant_ids or None, dataset=dataset, tags=tag_list)
    except ValidationError as exc:
        errors = form_errors(exc)
    if not variant_ids:
        # The page lists every variant ticked; none ticked is a slip, not "run them all".
        errors.append("choose at least one variant to compare")
    if not errors:
        try:
            new = await runner.create(
                data.query, data.variant_ids, created_by=user.name, dataset=data.dataset, tags=data.tags
            )
        except DomainError as exc:
            errors, code = form_errors(exc), error_status(exc)
    if errors:
        context: dict[str, object] = {
            "errors": errors,
            "query": query,
            "chosen": set(variant_ids),
            "dataset": dataset,
            "tags": tags,
        }
        if is_htmx(request):
            return render(request, "partials/_errors.html", context, status_code=code)
        context |= {
            "variants": [variant_out(v) for v in await variants.list()],
            "suggestions": _suggestions(),
        }
        return render(request, "pages/compare.html", context, status_code=code)
    runner.start(new)
    comparison_id = new.id
    if not is_htmx(request):
        url = request.url_for("comparison_page", comparison_id=comparison_id)
        return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    comparison = comparison_out(await reader.get(comparison_id))
    return render(request, "partials/_comparison.html", {"comparison": comparison, "rating": None})


@router.get("/comparisons", name="comparisons_page", response_class=HTMLResponse)
async def comparisons_page(
    request: Request,
    user: UiUser,
    reader: ReaderDep,
    page: Annotated[PageNumber, Query()] = 1,
    experiment: Annotated[Id | None, Query(description="only this experiment's comparisons")] = None,
) -> HTMLResponse:
    comparisons, total = await reader.page(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, experiment_id=experiment)
    return render(
        request,
        "pages/comparisons.html",
        {
            "comparisons": [comparison_summary(c, reader.revealed(c)) for c in comparisons],
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "has_next": page * PAGE_SIZE < total,
            "total": total,
            "experiment": experiment,
        },
    )


class ColumnsContext:
    """The comparison and this user's marks on retrieved chunks; a rater who has not rated it is kept blind."""

    def __init__(self, reader: ReaderDep, judgements: JudgementsDep):
        self.reader, self.judgements = reader, judgements

    async def __call__(self, comparison_id: int, user: Principal) -> dict[str, object]:
        comparison = await self.reader.get(comparison_id)
        shown = comparison_out(comparison)
        return {
            "comparison": shown,
            # A standalone comparison's asker (or an admin) may continue it as a conversation.
            "may_continue": comparison.experiment_id is None
            and comparison.session_id is None
            and may_continue(comparison.created_by, user),
            "rating": next((r for r in shown.ratings if r.rater == user.name), None),
            "marks": await self.judgements.marks([o.id for o in shown.outputs], user.name),
        }


async def columns_context(reader: ReaderDep, judgements: JudgementsDep) -> ColumnsContext:
    return ColumnsContext(reader, judgements)


ColumnsDep = Annotated[ColumnsContext, Depends(columns_context)]


@router.get("/comparisons/{comparison_id}", name="comparison_page", response_model=None)
async def comparison_page(
    request: Request,
    comparison_id: Id,
    user: UiUser,
    columns: ColumnsDep,
) -> Response:
    try:
        context = await columns(comparison_id, user)
    except BlindUntilRated:
        return redirect_to(request, "rate_page", comparison_id=comparison_id)
    return render(request, "pages/comparison.html", context)


@router.get("/comparisons/{comparison_id}/columns", name="comparison_columns", response_class=HTMLResponse)
async def comparison_columns(
    request: Request,
    comparison_id: Id,
    user: UiUser,
    columns: ColumnsDep,
) -> HTMLResponse:
    """The columns fragment the page polls while any variant is still answering."""
    context = await columns(comparison_id, user)
    return render(request, "partials/_comparison.html", context)


async def column_events(request: Request, feed: ComparisonFeed, comparison: Comparison) -> AsyncIterator[str]:
    """`answer-N` with output N's answer so far, `column-N` with its whole column once stored, `end` once all
    are. Each event is whole (not a delta), so a reconnecting page simply redraws."""
    texts: dict[int, str] = {}
    async for event in feed.follow(comparison, Cursor()):
        if event is None:
            yield KEEP_ALIVE
        elif isinstance(event, TextAdded):
            text = texts[event.output_id] = texts.get(event.output_id, "") + event.text
            yield sse_event(f"answer-{event.output_id}", answer_so_far(text))
        else:
            column = render_fragment(request, "partials/_output.html", {"o": output_out(event.output), "marks": {}})
            yield sse_event(f"column-{event.output.id}", column)
    yield sse_event("end", "")


@router.get("/comparisons/{comparison_id}/stream", name="comparison_stream", response_class=Response)
async def comparison_stream(
    request: Request, comparison_id: Id, _user: UiUser, reader: ReaderDep, feed: FeedDep
) -> Response:
    """The page's server-sent events (the htmx SSE extension swaps them in): columns fill as the variants
    write and finish on their own. A rater who has not rated the comparison gets 403 (they watch it blind)."""
    return event_stream(column_events(request, feed, await reader.get(comparison_id)))


@router.post("/comparisons/{comparison_id}/stop", name="stop_comparison_ui", response_model=None)
async def stop_comparison(
    request: Request, comparison_id: Id, user: UiRater, runner: RunnerDep, sessions: SessionsDep, judgements: JudgementsDep
) -> Response:
    """Stop the variants still answering (stored as stopped, with what they wrote); the finished columns."""
    async with sessions() as session:  # no transaction is held while the answers stop
        await ComparisonReader(session, user).get(comparison_id)
    await runner.stop(comparison_id)
    if not is_htmx(request):
        return redirect_to(request, "comparison_page", comparison_id=comparison_id)
    async with sessions() as session:
        context = await ColumnsContext(ComparisonReader(session, user), judgements)(comparison_id, user)
    return render(request, "partials/_comparison.html", context)



def may_continue(created_by: str, user: Principal) -> bool:
    return user.role != "viewer" and (user.name == created_by or user.role == "admin")


@router.post("/comparisons/{comparison_id}/follow-up", name="follow_up_ui", response_model=None)
async def follow_up(
    request: Request,
    comparison_id: Id,
    user: UiRater,
    runner: RunnerDep,
    turns: TurnsDep,
    columns: ColumnsDep,
    query: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """Continue a comparison as a conversation: it becomes turn 1 of a session, the question turn 2."""
    try:
        data = TurnIn(query=query)
        session_id = await turns.continue_comparison(comparison_id, user)
        new = await turns.add_turn(session_id, data.query, user)
    except (ValidationError, DomainError) as exc:
        context = await columns(comparison_id, user) | {"follow_up": query}
        return form_error_page(request, "pages/comparison.html", exc, context)
    runner.start(new)
    return redirect_to(request, "session_page", session_id=session_id)


@router.get("/sessions/{session_id}", name="session_page", response_model=None)
async def session_page(request: Request, session_id: Id, user: UiUser, reader: ReaderDep) -> Response:
    """A conversation turn by turn, the latest streaming while it is answered; a rater who has not rated every
    turn is sent to rate the first they have not (who wrote what stays hidden until then)."""
    try:
        return render(request, "pages/session.html", await _session_context(reader, session_id, user))
    except BlindUntilRated as exc:
        return redirect_to(request, "rate_page", comparison_id=exc.comparison_id)


async def _session_context(reader: ComparisonReader, session_id: int, user: Principal) -> dict[str, object]:
    conversation = await reader.session(session_id)
    return {
        "conversation": SimpleNamespace(
            id=conversation.id, turns=[comparison_out(turn) for turn in conversation.turns]
        ),
        "may_continue": may_continue(conversation.created_by, user),
    }


@router.post("/sessions/{session_id}/turns", name="add_turn_ui", response_model=None)
async def add_turn(
    request: Request,
    session_id: Id,
    user: UiRater,
    runner: RunnerDep,
    turns: TurnsDep,
    reader: ReaderDep,
    query: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    """The next question of the conversation; back to the conversation, its new turn streaming."""
    try:
        new = await turns.add_turn(session_id, TurnIn(query=query).query, user)
    except (ValidationError, DomainError) as exc:
        context = await _session_context(reader, session_id, user) | {"follow_up": query}
        return form_error_page(request, "pages/session.html", exc, context)
    runner.start(new)
    return redirect_to(request, "session_page", session_id=session_id)
