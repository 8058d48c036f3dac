"""The fine-tuning services and runner for its routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from app.accounts.auth import Reader
from app.core.auth import Principal
from app.core.database import SessionFactory
from app.core.deps import SessionDep, app_state
from app.core.jobs import JobKernel
from app.finetune.publishing import Publisher
from app.finetune.runner import FineTuneRunner
from app.finetune.schemas import FineTuneJobIn
from app.finetune.service import FineTuneService, TrainingSetService
from app.retrieval.store import VectorStore
from app.verdict.service import VerdictService


class FineTuning:
    """The request's services plus the app's fine-tuning runner and job kernel (jobs run as "finetune" jobs)."""

    def __init__(
        self,
        session_service: FineTuneService,
        reader: Principal,
        runner: FineTuneRunner,
        jobs: JobKernel,
        sessions: SessionFactory,
        store: VectorStore,
    ):
        self.jobs = session_service
        self.reader = reader
        self.sets = TrainingSetService(session_service.session, reader, store)
        self.verdicts = VerdictService(session_service.session, reader)
        self.runner = runner
        self.kernel = jobs
        self.sessions = sessions

    @property
    def publisher(self) -> Publisher:
        return self.runner.publisher

    async def cancel(self, job_id: int) -> None:
        """Committed first: the job running it (in any process) sees the row and stops its trainer (a hosted
        job is cancelled on its API too); a job still waiting in the queue is withdrawn."""
        async with self.sessions.begin() as session:
            await FineTuneService(session, self.jobs.cipher).cancel(job_id)
        await self.kernel.cancel("finetune", job_id)

    async def start(self, data: FineTuneJobIn, created_by: str) -> int:
        """Create in a transaction of its own, committed before the run starts (the run reads its row)."""
        async with self.sessions.begin() as session:
            job = await FineTuneService(session, self.jobs.cipher).create(data, created_by)
            job_id = job.id
        await self.kernel.enqueue("finetune", job_id)
        return job_id


async def get_fine_tuning(session: SessionDep, reader: Reader, request: Request) -> FineTuning:
    state = app_state(request)
    return FineTuning(
        FineTuneService(session, state.cipher), reader, state.finetune, state.jobs, state.sessions, state.store
    )


FineTuningDep = Annotated[FineTuning, Depends(get_fine_tuning)]
