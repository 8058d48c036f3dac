"""HTML pages: an experiment's verdict (with charts) and the paired comparison of two variants."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from app.accounts.auth import UiUser
from app.core.types import Id
from app.core.web import render
from app.evaluation.metrics import METRIC_LABELS
from app.verdict.deps import VerdictDep
from app.verdict.presenters import variant_pairs

router = APIRouter()


@router.get("/experiments/{experiment_id}/verdict", name="verdict_page", response_class=HTMLResponse)
async def verdict_page(request: Request, experiment_id: Id, user: UiUser, verdicts: VerdictDep) -> HTMLResponse:
    verdict = await verdicts.verdict(experiment_id)
    context = {
        "verdict": verdict,
        "labels": METRIC_LABELS,
        "rater_view": user.role == "rater",
        "pairs": variant_pairs(verdict),
    }
    return render(request, "pages/verdict.html", context)


@router.get("/experiments/{experiment_id}/compare", name="compare_variants_page", response_class=HTMLResponse)
async def compare_page(
    request: Request,
    experiment_id: Id,
    _user: UiUser,
    verdicts: VerdictDep,
    a: Annotated[Id, Query()],
    b: Annotated[Id, Query()],
) -> HTMLResponse:
    paired = await verdicts.compare(experiment_id, a, b)
    return render(request, "pages/paired.html", {"paired": paired, "experiment_id": experiment_id})
