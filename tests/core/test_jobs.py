"""The job kernel on both engines (in process on SQLite, procrastinate on PostgreSQL): a key runs at most once
at a time, enqueueing is idempotent, work reopened during a run is not lost, recovery enqueues unfinished
keys, a queued job can be withdrawn, and a dead worker's job goes back to the queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.database import create_engine
from app.core.jobs import JobKernel, open_kernel


class Work:
    """A job kind's body that records its runs and can be held open by the test."""

    def __init__(self) -> None:
        self.runs: list[int] = []
        self.running: dict[int, int] = {}
        self.most_at_once = 0
        self.release = asyncio.Event()
        self.unfinished_keys: list[int] = []

    async def run(self, key: int) -> None:
        self.running[key] = self.running.get(key, 0) + 1
        self.most_at_once = max(self.most_at_once, self.running[key])
        self.runs.append(key)
        try:
            await self.release.wait()
        finally:
            self.running[key] -= 1

    async def unfinished(self) -> Sequence[int]:
        return list(self.unfinished_keys)


@pytest.fixture
async def sql(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    if engine.dialect.name == "postgresql":
        async with engine.begin() as conn:
            await conn.execute(text("TRUNCATE procrastinate_jobs, procrastinate_workers CASCADE"))
    await engine.dispose()


@pytest.fixture
async def kernel(sql: AsyncEngine, database_url: str) -> AsyncIterator[tuple[JobKernel, Work]]:
    jobs = await open_kernel(database_url, sql, lease_s=1.0, concurrency=4)
    work = Work()
    jobs.define("thing", "things", work.run, work.unfinished)
    yield jobs, work
    work.release.set()
    await jobs.aclose()


async def _until(condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition never held")


async def test_a_key_runs_once_at_a_time_and_work_reopened_meanwhile_runs_after(kernel: tuple[JobKernel, Work]) -> None:
    jobs, work = kernel
    await jobs.work()
    await jobs.enqueue("thing", 1)
    await _until(lambda: work.runs == [1])
    for _ in range(5):  # reopened while running: one more run after this one, never beside it
        await jobs.enqueue("thing", 1)
    await jobs.enqueue("thing", 2)
    await _until(lambda: sorted(work.runs) == [1, 2])
    work.release.set()
    await _until(lambda: work.runs.count(1) == 2)
    await asyncio.sleep(0.3)
    assert work.runs.count(1) == 2 and work.most_at_once == 1


async def test_recovery_enqueues_unfinished_keys_and_a_queued_job_can_be_withdrawn(kernel: tuple[JobKernel, Work]) -> None:
    jobs, work = kernel
    work.release.set()
    work.unfinished_keys = [3, 4]
    assert await jobs.recover() == {"thing": [3, 4]}
    assert await jobs.recover(["other-queue"]) == {}
    await jobs.enqueue("thing", 5)
    await jobs.cancel("thing", 4)  # still queued: nobody works the queue yet
    await jobs.work(["things"])
    await _until(lambda: sorted(work.runs) == [3, 5])
    await asyncio.sleep(0.3)
    assert sorted(work.runs) == [3, 5]


async def test_unknown_kinds_and_queues_are_refused(kernel: tuple[JobKernel, Work]) -> None:
    jobs, _work = kernel
    with pytest.raises(LookupError, match="no job kind 'nothing'"):
        await jobs.enqueue("nothing", 1)
    with pytest.raises(LookupError, match="no queue named gpu"):
        await jobs.work(["gpu"])


@pytest.mark.postgres
async def test_a_dead_worker_s_job_goes_back_to_the_queue_after_its_lease(
    kernel: tuple[JobKernel, Work], sql: AsyncEngine
) -> None:
    jobs, work = kernel
    if sql.dialect.name != "postgresql":
        pytest.skip("in process, a job dies with its process and resumes at the next start")
    from app.core.jobs.postgres import ProcrastinateEngine

    engine = jobs.engine
    assert isinstance(engine, ProcrastinateEngine)
    manager = engine.app.job_manager
    await jobs.enqueue("thing", 7)
    dead = await manager.register_worker()
    taken = await manager.fetch_job(queues=["things"], worker_id=dead)  # a worker took it, then died silent
    assert taken is not None
    await jobs.enqueue("thing", 7)  # a start-up's recovery: queued again, but the lock holds it back
    assert await engine.requeue_stalled() == []  # its heartbeat is fresh: it is alive as far as anyone knows
    async with sql.begin() as conn:
        await conn.execute(
            text("UPDATE procrastinate_workers SET last_heartbeat = now() - :age WHERE id = :id"),
            {"age": timedelta(seconds=5), "id": dead},
        )
    assert await engine.requeue_stalled() == [taken.id]
    work.release.set()
    await jobs.work()
    await _until(lambda: work.runs == [7])
    await asyncio.sleep(0.5)
    assert work.runs == [7]  # the key's queued job and the requeued one: the work ran once at a time
    counts = await engine.counts()
    assert counts.get(("thing", "queued"), 0) == 0
