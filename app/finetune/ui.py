"""HTML pages for fine-tuning: training sets (build, preview) and jobs (start, live progress, cancel)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from app.accounts.auth import UiAdmin, UiUser
from app.catalog.deps import ExampleSetsDep
from app.core.errors import DomainError, Invalid
from app.core.types import Id
from app.core.web import form_error_page, redirect_to, render
from app.finetune.deps import FineTuningDep
from app.finetune.presenters import evaluation_of, job_out, training_set_out
from app.finetune.schemas import FineTuneJobIn, HyperparametersIn, TrainingSetIn
from app.knowledge.deps import KnowledgeDep

router = APIRouter()
PAGE = "pages/finetune.html"


async def _context(ft: FineTuningDep, example_sets: ExampleSetsDep, knowledge: KnowledgeDep) -> dict[str, object]:
    return {
        "knowledge_bases": await knowledge.active(),
        "training_sets": [training_set_out(s) for s in await ft.sets.recent(limit=50)],
        "jobs": [job_out(j) for j in await ft.jobs.recent(limit=50)],
        "example_sets": await example_sets.list(),
        "defaults": HyperparametersIn(),
    }


@router.get("/finetune", name="finetune_page", response_class=HTMLResponse)
async def finetune_page(request: Request, _user: UiUser, ft: FineTuningDep, example_sets: ExampleSetsDep, knowledge: KnowledgeDep) -> HTMLResponse:
    return render(request, PAGE, await _context(ft, example_sets, knowledge) | {"values": {"validation_fraction": 0.2, "min_score": 4}})


@router.post("/finetune/training-sets", name="create_training_set_ui", response_model=None)
async def create_training_set(
    request: Request, principal: UiAdmin, ft: FineTuningDep, example_sets: ExampleSetsDep, knowledge: KnowledgeDep
) -> Response:
    form = await request.form()
    values = {
        "name": str(form.get("name", "")),
        "example_set_id": form.get("example_set_id") or None,
        "include_corrections": "include_corrections" in form,
        "include_top_rated": "include_top_rated" in form,
        "min_score": form.get("min_score") or 4,
        "system_prompt": str(form.get("system_prompt", "")),
        "validation_fraction": form.get("validation_fraction") or 0.2,
        "seed": form.get("seed") or 0,
        "knowledge_base_id": form.get("knowledge_base_id") or None,
    }
    try:
        await ft.sets.build(TrainingSetIn.model_validate(values), principal.name)
    except (ValidationError, DomainError) as exc:
        return form_error_page(request, PAGE, exc, await _context(ft, example_sets, knowledge) | {"values": values})
    return redirect_to(request, "finetune_page")


@router.post("/finetune/jobs", name="start_job_ui", response_model=None)
async def start_job(
    request: Request, principal: UiAdmin, ft: FineTuningDep, example_sets: ExampleSetsDep, knowledge: KnowledgeDep
) -> Response:
    form = await request.form()
    values = {
        "training_set_id": form.get("training_set_id") or None,
        "hyperparameters": {
            "epochs": form.get("epochs") or 3,
            "rank": form.get("rank") or 16,
            "learning_rate": form.get("learning_rate") or 3e-4,
        },
    }
    try:
        job_id = await ft.start(FineTuneJobIn.model_validate(values), principal.name)
    except (ValidationError, DomainError) as exc:
        return form_error_page(request, PAGE, exc, await _context(ft, example_sets, knowledge) | {"values": {}})
    return redirect_to(request, "finetune_job_page", job_id=job_id)


@router.get("/finetune/jobs/{job_id}", name="finetune_job_page", response_class=HTMLResponse)
async def job_page(
    request: Request, job_id: Id, _user: UiUser, ft: FineTuningDep, knowledge: KnowledgeDep
) -> HTMLResponse:
    job = job_out(await ft.jobs.summary(job_id))
    evaluation = None
    if job.evaluation_experiment_id is not None:
        verdict, evidence = await ft.verdicts.verdict_and_evidence(job.evaluation_experiment_id)
        evaluation = evaluation_of(verdict, evidence)
    context = {"job": job, "evaluation": evaluation, "knowledge_bases": await knowledge.active()}
    return render(request, "pages/finetune_job.html", context)


@router.post("/finetune/jobs/{job_id}/variants", name="create_hybrid_ui", response_model=None)
async def create_hybrid(request: Request, job_id: Id, _user: UiAdmin, ft: FineTuningDep) -> Response:
    """One click: the fine-tuned model with retrieval from the chosen knowledge base."""
    form = await request.form()
    try:
        knowledge_base_id = int(str(form.get("knowledge_base_id", "")))
    except ValueError:
        raise Invalid("knowledge_base_id: choose a knowledge base") from None
    job = await ft.jobs.get(job_id)
    await ft.publisher.hybrid(ft.jobs.session, job, knowledge_base_id)
    return redirect_to(request, "variants_page")


@router.get("/finetune/jobs/{job_id}/progress", name="finetune_job_progress", response_class=HTMLResponse)
async def job_progress(request: Request, job_id: Id, _user: UiUser, ft: FineTuningDep) -> HTMLResponse:
    """The progress block alone, polled by the page while the job runs."""
    return render(request, "partials/_finetune_progress.html", {"job": job_out(await ft.jobs.summary(job_id))})


@router.post("/finetune/jobs/{job_id}/cancel", name="cancel_job_ui", response_model=None)
async def cancel_job(request: Request, job_id: Id, _user: UiAdmin, ft: FineTuningDep) -> Response:
    await ft.cancel(job_id)
    return redirect_to(request, "finetune_job_page", job_id=job_id)
