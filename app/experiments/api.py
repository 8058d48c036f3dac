"""REST: experiments (start, list, show with progress, cancel, resume)."""

from __future__ import annotations

from fastapi import APIRouter, status

from app.accounts.auth import ApiAdmin, ApiUser
from app.core.api_errors import API_ERRORS, errors
from app.core.types import Id, Offset
from app.experiments.deps import ExperimentsDep
from app.experiments.presenters import experiment_out
from app.experiments.schemas import ExperimentIn, ExperimentOut

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)


@router.post("/experiments", response_model=ExperimentOut, status_code=status.HTTP_202_ACCEPTED)
async def create_experiment(body: ExperimentIn, principal: ApiAdmin, experiments: ExperimentsDep) -> ExperimentOut:
    """Run the dataset's current version across the variants in the background; poll GET for progress."""
    return experiment_out(await experiments.service.overview(await experiments.create(body, principal.name)))


@router.get("/experiments", response_model=list[ExperimentOut])
async def list_experiments(_user: ApiUser, experiments: ExperimentsDep, offset: Offset = 0) -> list[ExperimentOut]:
    return [experiment_out(o) for o in await experiments.service.overviews(await experiments.service.recent(limit=50, offset=offset))]


@router.get("/experiments/{experiment_id}", response_model=ExperimentOut)
async def get_experiment(experiment_id: Id, _user: ApiUser, experiments: ExperimentsDep) -> ExperimentOut:
    return experiment_out(await experiments.service.overview(experiment_id))


@router.post("/experiments/{experiment_id}/cancel", response_model=ExperimentOut, responses=errors(409))
async def cancel_experiment(experiment_id: Id, _user: ApiAdmin, experiments: ExperimentsDep) -> ExperimentOut:
    """Stop new model calls; finished outputs are kept, and `resume` carries on later."""
    await experiments.cancel(experiment_id)
    return experiment_out(await experiments.service.overview(experiment_id))


@router.post("/experiments/{experiment_id}/resume", response_model=ExperimentOut, status_code=status.HTTP_202_ACCEPTED, responses=errors(409))
async def resume_experiment(experiment_id: Id, _user: ApiAdmin, experiments: ExperimentsDep) -> ExperimentOut:
    """Run a cancelled or failed experiment's pending outputs."""
    await experiments.resume(experiment_id)
    return experiment_out(await experiments.service.overview(experiment_id))
