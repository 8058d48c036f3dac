"""REST: training sets (build, list, show, rows, export) and fine-tuning jobs (start, list, show, cancel,
one-click hybrid variant)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, status
from fastapi.responses import Response
from pydantic import Field

from app.accounts.auth import ApiAdmin, ApiUser
from app.core.api_errors import API_ERRORS, errors
from app.core.types import Id, Offset, Strict
from app.datasets.presenters import attachment
from app.finetune.deps import FineTuningDep
from app.finetune.presenters import example_out, job_out, training_set_out
from app.finetune.schemas import (
    FineTuneJobIn,
    FineTuneJobOut,
    PublishedVariantsOut,
    TrainingExampleOut,
    TrainingSetIn,
    TrainingSetOut,
)

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


@router.post("/training-sets", response_model=TrainingSetOut, status_code=status.HTTP_201_CREATED, responses=errors(409))
async def create_training_set(body: TrainingSetIn, principal: ApiAdmin, ft: FineTuningDep) -> TrainingSetOut:
    """Build from the chosen sources: deduplicated, split by prompt (seeded), every row with its lineage."""
    training_set = await ft.sets.build(body, principal.name)
    return training_set_out(await ft.sets.summary(training_set.id))


@router.get("/training-sets", response_model=list[TrainingSetOut])
async def list_training_sets(_user: ApiUser, ft: FineTuningDep, offset: Offset = 0) -> list[TrainingSetOut]:
    return [training_set_out(s) for s in await ft.sets.recent(offset=offset)]


@router.get("/training-sets/{training_set_id}", response_model=TrainingSetOut)
async def get_training_set(training_set_id: Id, _user: ApiUser, ft: FineTuningDep) -> TrainingSetOut:
    return training_set_out(await ft.sets.summary(training_set_id))


@router.get("/training-sets/{training_set_id}/examples", response_model=list[TrainingExampleOut])
async def training_set_rows(
    training_set_id: Id, _user: ApiUser, ft: FineTuningDep, split: Literal["train", "validation"] | None = None
) -> list[TrainingExampleOut]:
    return [example_out(r) for r in await ft.sets.rows(training_set_id, split=split)]


@router.get(
    "/training-sets/{training_set_id}/export",
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {}}, "description": "The JSONL download"}},
)
async def export_training_set(
    training_set_id: Id,
    _user: ApiUser,
    ft: FineTuningDep,
    format: Literal["chat", "dpo"] = "chat",
    split: Literal["train", "validation"] | None = None,
) -> Response:
    """Chat-format JSONL (what hosted fine-tuning APIs take) or DPO JSONL (rows with a rejected answer)."""
    body, filename = await ft.sets.export(training_set_id, format, split)
    return attachment(body, "application/x-ndjson", filename)


@router.post("/finetune/jobs", response_model=FineTuneJobOut, status_code=status.HTTP_202_ACCEPTED)
async def start_job(body: FineTuneJobIn, principal: ApiAdmin, ft: FineTuningDep) -> FineTuneJobOut:
    """Train in the background; poll GET for step, loss and time left."""
    return job_out(await ft.jobs.summary(await ft.start(body, principal.name)))


@router.get("/finetune/jobs", response_model=list[FineTuneJobOut])
async def list_jobs(_user: ApiUser, ft: FineTuningDep, offset: Offset = 0) -> list[FineTuneJobOut]:
    return [job_out(j) for j in await ft.jobs.recent(offset=offset)]


@router.get("/finetune/jobs/{job_id}", response_model=FineTuneJobOut)
async def get_job(job_id: Id, _user: ApiUser, ft: FineTuningDep) -> FineTuneJobOut:
    return job_out(await ft.jobs.summary(job_id))


@router.post("/finetune/jobs/{job_id}/cancel", response_model=FineTuneJobOut, responses=errors(409))
async def cancel_job(job_id: Id, _user: ApiAdmin, ft: FineTuningDep) -> FineTuneJobOut:
    await ft.cancel(job_id)
    return job_out(await ft.jobs.summary(job_id))


class HybridIn(Strict):
    knowledge_base_id: Id
    top_k: Annotated[int, Field(ge=1, le=20)] = 3


@router.post(
    "/finetune/jobs/{job_id}/variants",
    response_model=PublishedVariantsOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(409),
)
async def create_hybrid_variant(job_id: Id, body: HybridIn, _user: ApiAdmin, ft: FineTuningDep) -> PublishedVariantsOut:
    """One click: a rag_fine_tuned variant on the job's model (the fine_tuned one exists once it succeeds)."""
    job = await ft.jobs.get(job_id)
    variant = await ft.publisher.hybrid(ft.jobs.session, job, body.knowledge_base_id, body.top_k)
    assert job.result_endpoint_id is not None
    return PublishedVariantsOut(endpoint_id=job.result_endpoint_id, variant_ids=[variant.id])
