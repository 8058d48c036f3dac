"""Background work as jobs of one kernel (kernel.py), on the engine the database calls for."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.jobs.inprocess import InProcessEngine
from app.core.jobs.kernel import (
    CANCELLED,
    FAILED,
    FINISHED_STATUSES,
    JOB_STATUSES,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    JobEngine,
    JobKernel,
    JobKind,
    UnknownJobKind,
    current_job,
)

__all__ = [
    "CANCELLED",
    "FAILED",
    "FINISHED_STATUSES",
    "JOB_STATUSES",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "JobEngine",
    "JobKernel",
    "JobKind",
    "UnknownJobKind",
    "current_job",
    "open_kernel",
]


async def open_kernel(database_url: str, sql: AsyncEngine, *, lease_s: float, concurrency: int) -> JobKernel:
    """PostgreSQL: jobs on procrastinate, shared by every process. SQLite: jobs in this process (one process
    owns an embedded deployment)."""
    if sql.dialect.name == "postgresql":
        from app.core.jobs.postgres import ProcrastinateEngine

        engine = ProcrastinateEngine(database_url, sql, lease_s=lease_s, concurrency=concurrency)
        await engine.open()
        return JobKernel(engine)
    return JobKernel(InProcessEngine())
