"""The experiment service and runner for its routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.database import SessionFactory
from app.core.deps import SessionDep, app_state
from app.core.jobs import JobKernel
from app.experiments.schemas import ExperimentIn
from app.experiments.service import ExperimentService


class Experiments:
    """The request's service plus the app's job kernel (experiments run as its "experiment" jobs)."""

    def __init__(self, service: ExperimentService, jobs: JobKernel, sessions: SessionFactory):
        self.service = service
        self.jobs = jobs
        self.sessions = sessions

    async def create(self, data: ExperimentIn, created_by: str) -> int:
        """Create in a transaction of its own, committed before the run starts (the run reads its rows)."""
        async with self.sessions.begin() as session:
            experiment = await ExperimentService(session, self.service.cipher).create(data, created_by)
            experiment_id = experiment.id
        await self.jobs.enqueue("experiment", experiment_id)
        return experiment_id

    async def cancel(self, experiment_id: int) -> None:
        """Committed first: the job running it (in any process) sees the row within half a second and stops;
        a job still waiting in the queue is withdrawn."""
        async with self.sessions.begin() as session:
            await ExperimentService(session, self.service.cipher).cancel(experiment_id)
        await self.jobs.cancel("experiment", experiment_id)

    async def resume(self, experiment_id: int, *, refresh: bool | None = None) -> None:
        async with self.sessions.begin() as session:
            await ExperimentService(session, self.service.cipher).reopen(experiment_id, refresh=refresh)
        await self.jobs.enqueue("experiment", experiment_id)


async def get_experiments(session: SessionDep, request: Request) -> Experiments:
    state = app_state(request)
    return Experiments(ExperimentService(session, state.cipher), state.jobs, state.sessions)


ExperimentsDep = Annotated[Experiments, Depends(get_experiments)]
