"""HTML pages for experiments: list, start (from a dataset), a run's page with live progress, cancel, resume."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.accounts.auth import UiAdmin, UiUser
from app.catalog.deps import EndpointsDep, VariantsDep
from app.catalog.presenters import variant_out
from app.core.errors import DomainError
from app.core.types import Id
from app.core.web import form_error_page, redirect_to, render
from app.datasets.deps import DatasetsDep
from app.datasets.presenters import dataset_out
from app.experiments.deps import ExperimentsDep
from app.experiments.presenters import experiment_out
from app.experiments.schemas import ExperimentIn

router = APIRouter()
FORM = "pages/experiment_form.html"


@router.get("/experiments", name="experiments_page", response_class=HTMLResponse)
async def experiments_page(request: Request, _user: UiUser, experiments: ExperimentsDep) -> HTMLResponse:
    items = [experiment_out(o) for o in await experiments.service.overviews(await experiments.service.recent(limit=100))]
    return render(request, "pages/experiments.html", {"experiments": items})


async def _form_context(datasets: DatasetsDep, variants: VariantsDep, endpoints: EndpointsDep) -> dict[str, object]:
    return {
        "datasets": [dataset_out(s) for s in await datasets.list()],
        "variants": [variant_out(v) for v in await variants.list()],
        "endpoints": await endpoints.list(),
    }


@router.get("/experiments/new", name="new_experiment_page", response_class=HTMLResponse)
async def new_experiment_page(
    request: Request,
    _user: UiUser,
    datasets: DatasetsDep,
    variants: VariantsDep,
    endpoints: EndpointsDep,
    dataset_id: Id | None = Query(None),
) -> HTMLResponse:
    context = await _form_context(datasets, variants, endpoints)
    values = {"dataset_id": dataset_id, "variant_ids": [v.id for v in context["variants"]], "repeats": 1}  # type: ignore[attr-defined]
    return render(request, FORM, context | {"values": values})


@router.post("/experiments", name="create_experiment_ui", response_model=None)
async def create_experiment(
    request: Request,
    principal: UiAdmin,
    experiments: ExperimentsDep,
    datasets: DatasetsDep,
    variants: VariantsDep,
    endpoints: EndpointsDep,
) -> Response:
    form = await request.form()
    values = {
        "dataset_id": form.get("dataset_id") or None,
        "variant_ids": [str(v) for v in form.getlist("variant_ids")] or None,
        "repeats": form.get("repeats") or 1,
        "judge_endpoint_id": form.get("judge_endpoint_id") or None,
        "refresh": "refresh" in form,
        "name": str(form.get("name", "")),
    }
    try:
        experiment_id = await experiments.create(ExperimentIn.model_validate(values), principal.name)
    except (ValidationError, DomainError) as exc:
        context = await _form_context(datasets, variants, endpoints)
        return form_error_page(request, FORM, exc, context | {"values": values})
    return redirect_to(request, "experiment_page", experiment_id=experiment_id)


@router.get("/experiments/{experiment_id}", name="experiment_page", response_class=HTMLResponse)
async def experiment_page(
    request: Request, experiment_id: Id, _user: UiUser, experiments: ExperimentsDep
) -> HTMLResponse:
    return render(request, "pages/experiment.html", {"experiment": experiment_out(await experiments.service.overview(experiment_id))})


@router.get("/experiments/{experiment_id}/progress", name="experiment_progress", response_class=HTMLResponse)
async def experiment_progress(
    request: Request, experiment_id: Id, _user: UiUser, experiments: ExperimentsDep
) -> HTMLResponse:
    """The progress block alone, polled by the page while the experiment runs."""
    context = {"experiment": experiment_out(await experiments.service.overview(experiment_id))}
    return render(request, "partials/_experiment_progress.html", context)


@router.post("/experiments/{experiment_id}/cancel", name="cancel_experiment_ui", response_model=None)
async def cancel_experiment(
    request: Request, experiment_id: Id, _user: UiAdmin, experiments: ExperimentsDep
) -> Response:
    await experiments.cancel(experiment_id)
    return redirect_to(request, "experiment_page", experiment_id=experiment_id)


@router.post("/experiments/{experiment_id}/resume", name="resume_experiment_ui", response_model=None)
async def resume_experiment(
    request: Request, experiment_id: Id, _user: UiAdmin, experiments: ExperimentsDep
) -> Response:
    await experiments.resume(experiment_id)
    return redirect_to(request, "experiment_page", experiment_id=experiment_id)
