"""HTML pages: ask a question, watch the columns fill in; the history of comparisons."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.accounts.auth import UiRater, UiUser
from app.catalog.deps import VariantsDep
from app.catalog.presenters import variant_out
from app.comparisons.deps import ReaderDep, RunnerDep
from app.comparisons.presenters import comparison_out, comparison_summary
from app.comparisons.reader import BlindUntilRated
from app.comparisons.schemas import ComparisonIn
from app.core.auth import Principal
from app.core.errors import DomainError
from app.core.types import Id, PageNumber
from app.core.web import error_status, form_errors, is_htmx, redirect_to, render
from app.datasets.deps import DatasetsDep
from app.datasets.presenters import dataset_out
from app.demo import read_jsonl
from app.experiments.deps import ExperimentsDep
from app.experiments.presenters import experiment_out
from app.finetune.deps import FineTuningDep
from app.finetune.presenters import job_out
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
