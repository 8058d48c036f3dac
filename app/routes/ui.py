"""HTML pages: ask a question, watch the columns fill in, rate them; the history of comparisons."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from app.demo import read_jsonl
from app.deps import (
    CsrfChecked,
    JudgementsDep,
    LeaderboardDep,
    RatingsDep,
    ReaderDep,
    RunnerDep,
    UiUser,
    VariantsDep,
)
from app.errors import DomainError, Invalid
from app.presenters import comparison_out, comparison_summary, leaderboard_out, variant_out
from app.routes import ui_catalog, ui_knowledge
from app.routes.ui_support import error_status, form_errors, is_htmx, render
from app.schemas import ComparisonIn, ComparisonOut, RatingIn, RatingOut, ScoreIn

router = APIRouter()
router.include_router(ui_catalog.router)
router.include_router(ui_knowledge.router)
PAGE_SIZE = 25


def _suggestions() -> list[str]:
    try:
        return [row["query"] for row in read_jsonl("questions.jsonl")[:4]]
    except OSError:
        return []


@router.get("/", name="compare_page", response_class=HTMLResponse)
async def compare_page(request: Request, _user: UiUser, variants: VariantsDep) -> HTMLResponse:
    return render(
        request,
        "pages/compare.html",
        {"variants": [variant_out(v) for v in await variants.list()], "suggestions": _suggestions()},
    )


@router.post("/comparisons", name="create_comparison_ui", response_model=None)
async def create_comparison(
    request: Request,
    user: UiUser,
    _csrf: CsrfChecked,
    runner: RunnerDep,
    reader: ReaderDep,
    variants: VariantsDep,
    query: Annotated[str, Form()] = "",
    variant_ids: Annotated[list[int], Form()] = [],  # noqa: B006 - FastAPI copies defaults
) -> Response:
    """Store the comparison, run it in the background, answer with the (polling) columns."""
    errors: list[str] = []
    code = status.HTTP_422_UNPROCESSABLE_CONTENT
    try:
        data = ComparisonIn(query=query, variant_ids=variant_ids or None)
    except ValidationError as exc:
        errors = form_errors(exc)
    if not variant_ids:
        # The page lists every variant ticked; none ticked is a slip, not "run them all".
        errors.append("choose at least one variant to compare")
    if not errors:
        try:
            comparison_id = await runner.create(data.query, data.variant_ids, created_by=user.name)
        except DomainError as exc:
            errors, code = form_errors(exc), error_status(exc)
    if errors:
        context: dict[str, object] = {"errors": errors, "query": query, "chosen": set(variant_ids)}
        if is_htmx(request):
            return render(request, "partials/_errors.html", context, status_code=code)
        context |= {
            "variants": [variant_out(v) for v in await variants.list()],
            "suggestions": _suggestions(),
        }
        return render(request, "pages/compare.html", context, status_code=code)
    runner.start(comparison_id)
    if not is_htmx(request):
        url = request.url_for("comparison_page", comparison_id=comparison_id)
        return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    comparison = comparison_out(await reader.get(comparison_id))
    return render(request, "partials/_comparison.html", {"comparison": comparison, "rating": None})


@router.get("/comparisons", name="comparisons_page", response_class=HTMLResponse)
async def comparisons_page(
    request: Request, _user: UiUser, reader: ReaderDep, page: Annotated[int, Query(ge=1)] = 1
) -> HTMLResponse:
    comparisons, total = await reader.page(limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
    return render(
        request,
        "pages/comparisons.html",
        {
            "comparisons": [comparison_summary(c) for c in comparisons],
            "page": page,
            "pages": max(1, -(-total // PAGE_SIZE)),
            "has_next": page * PAGE_SIZE < total,
            "total": total,
        },
    )


def _own_rating(comparison: ComparisonOut, rater: str) -> RatingOut | None:
    return next((r for r in comparison.ratings if r.rater == rater), None)


async def _columns_context(
    comparison_id: int, rater: str, reader: ReaderDep, judgements: JudgementsDep
) -> dict[str, object]:
    """The comparison, this rater's rating and this rater's marks on retrieved chunks."""
    comparison = comparison_out(await reader.get(comparison_id))
    return {
        "comparison": comparison,
        "rating": _own_rating(comparison, rater),
        "marks": await judgements.marks([o.id for o in comparison.outputs], rater),
    }


@router.get("/comparisons/{comparison_id}", name="comparison_page", response_class=HTMLResponse)
async def comparison_page(
    request: Request, comparison_id: int, user: UiUser, reader: ReaderDep, judgements: JudgementsDep
) -> HTMLResponse:
    context = await _columns_context(comparison_id, user.name, reader, judgements)
    return render(request, "pages/comparison.html", context)


@router.get("/comparisons/{comparison_id}/columns", name="comparison_columns", response_class=HTMLResponse)
async def comparison_columns(
    request: Request, comparison_id: int, user: UiUser, reader: ReaderDep, judgements: JudgementsDep
) -> HTMLResponse:
    """The columns fragment the page polls while any variant is still answering."""
    context = await _columns_context(comparison_id, user.name, reader, judgements)
    return render(request, "partials/_comparison.html", context)


@router.post("/comparisons/{comparison_id}/ratings", name="rate_comparison_ui", response_model=None)
async def rate_comparison(
    request: Request,
    comparison_id: int,
    user: UiUser,
    _csrf: CsrfChecked,
    ratings: RatingsDep,
    reader: ReaderDep,
    judgements: JudgementsDep,
) -> Response:
    """Scores arrive as fields `score-<output id>`; unscored outputs are simply left out."""
    form = await request.form()
    comment = str(form.get("comment", ""))
    scores = []
    errors: list[str] = []
    try:
        for key, value in form.multi_items():
            if key.startswith("score-") and str(value):
                scores.append(ScoreIn(output_id=int(key.removeprefix("score-")), score=int(str(value))))
        await ratings.submit(comparison_id, user.name, RatingIn(scores=scores, comment=comment))
    except (ValidationError, DomainError) as exc:
        errors = form_errors(exc)
    except ValueError:
        errors = ["scores must be whole numbers from 1 to 5"]
    if errors:
        if not any(k.startswith("score-") and str(v) for k, v in form.multi_items()):
            errors = ["score at least one answer before saving"]
        context = await _columns_context(comparison_id, user.name, reader, judgements)
        # What the rater picked and wrote stays on the form.
        typed = {s.output_id: s.score for s in scores}
        context |= {"errors": errors, "comment": comment, "typed": typed}
        template = "partials/_rating_form.html" if is_htmx(request) else "pages/comparison.html"
        return render(request, template, context, status_code=422)
    comparison = comparison_out(await reader.get(comparison_id))
    if not is_htmx(request):
        url = request.url_for("comparison_page", comparison_id=comparison_id)
        return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)
    own = _own_rating(comparison, user.name)
    return render(
        request,
        "partials/_rating_form.html",
        {"comparison": comparison, "rating": own, "saved": True},
    )


@router.get("/leaderboard", name="leaderboard_page", response_class=HTMLResponse)
async def leaderboard_page(
    request: Request,
    _user: UiUser,
    board: LeaderboardDep,
    since: Annotated[str, Query()] = "",
    until: Annotated[str, Query()] = "",
) -> HTMLResponse:
    """The verdict so far, with intervals drawn as server-side SVG."""
    try:
        start = datetime.fromisoformat(since) if since else None
        end = datetime.fromisoformat(until) if until else None
    except ValueError:
        raise Invalid("since and until must be dates like 2026-11-01") from None
    result = leaderboard_out(await board.compute(since=start, until=end))
    return render(request, "pages/leaderboard.html", {"board": result, "since": since, "until": until})
