"""The experiment service and runner for its routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.core.database import SessionFactory
from app.core.deps import SessionDep, app_state
from app.experiments.runner import ExperimentRunner
from app.experiments.schemas import ExperimentIn
from app.experiments.service import ExperimentService


class Experiments:
    """The request's service plus the app's background runner."""

    def __init__(self, service: ExperimentService, runner: ExperimentRunner, sessions: SessionFactory):
        self.service = service
        self.runner = runner
        self.sessions = sessions

    async def create(self, data: ExperimentIn, created_by: str) -> int:
        """Create in a transaction of its own, committed before the run starts (the run reads its rows)."""
        async with self.sessions.begin() as session:
            experiment = await ExperimentService(session, self.service.cipher).create(data, created_by)
            experiment_id = experiment.id
        self.runner.start(experiment_id)
        return experiment_id

    async def resume(self, experiment_id: int, *, refresh: bool | None = None) -> None:
        async with self.sessions.begin() as session:
            await ExperimentService(session, self.service.cipher).reopen(experiment_id, refresh=refresh)
        self.runner.start(experiment_id)


def get_experiments(session: SessionDep, request: Request) -> Experiments:
    state = app_state(request)
    return Experiments(ExperimentService(session, state.cipher), state.experiments, state.sessions)


ExperimentsDep = Annotated[Experiments, Depends(get_experiments)]
