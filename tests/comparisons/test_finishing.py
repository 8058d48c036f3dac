"""Finished outputs are stored many to a transaction, each caller answered once its own is committed."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import IntegrityError

from app.comparisons.finishing import OutputFinisher
from app.models import Output, utcnow
from app.state import AppState
from tests.factories import create_endpoint, create_variant


async def _pending_outputs(client: httpx.AsyncClient, auth: dict[str, str], state: AppState, n: int) -> list[int]:
    endpoint = await create_endpoint(client, auth)
    for i in range(n):
        await create_variant(client, auth, endpoint["id"], name=f"variant {i}")
    new = await state.runner.create("hi", None, created_by="test")
    return [job.output_id for job in new.jobs]


def _done(i: int) -> dict[str, Any]:
    return {"status": "done", "text": f"answer {i}", "error": None, "latency_ms": 1.0, "finished_at": utcnow()}


async def test_outputs_finishing_together_share_a_transaction(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    ids = await _pending_outputs(client, auth, state, 5)
    commits: list[int] = []
    listener = lambda _conn: commits.append(1)  # noqa: E731
    event.listen(state.engine.sync_engine, "commit", listener)
    try:
        finisher = OutputFinisher(state.sessions)
        await asyncio.gather(*(finisher.finish(output_id, _done(i)) for i, output_id in enumerate(ids)))
    finally:
        event.remove(state.engine.sync_engine, "commit", listener)
    assert len(commits) == 1  # five answers, one transaction
    async with state.sessions() as session:
        stored = (await session.execute(select(Output.id, Output.status, Output.text).order_by(Output.id))).all()
    assert [(row.status, row.text) for row in stored] == [("done", f"answer {i}") for i in range(5)]


async def test_answers_arriving_a_few_loop_turns_apart_share_the_first_write(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    """Answers that arrive together reach `finish` a turn or two of the event loop apart (each response is
    read and parsed in turn): they still go into one write instead of queueing behind the first."""
    ids = await _pending_outputs(client, auth, state, 3)
    finisher = OutputFinisher(state.sessions)

    async def finish_after(turns: int, output_id: int) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        await finisher.finish(output_id, _done(turns))

    commits: list[int] = []
    listener = lambda _conn: commits.append(1)  # noqa: E731
    event.listen(state.engine.sync_engine, "commit", listener)
    try:
        await asyncio.gather(*(finish_after(turns, output_id) for turns, output_id in enumerate(ids)))
    finally:
        event.remove(state.engine.sync_engine, "commit", listener)
    assert len(commits) == 1


async def test_a_failed_write_is_reported_to_its_caller_and_the_next_writes_go_on(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    first, second, third = await _pending_outputs(client, auth, state, 3)
    finisher = OutputFinisher(state.sessions)
    await finisher.finish(first, _done(0))
    with pytest.raises(IntegrityError):
        await finisher.finish(second, _done(1) | {"status": None})  # a NOT NULL column left empty
    await finisher.finish(third, _done(2))
    async with state.sessions() as session:
        rows = {row.id: row.status for row in await session.execute(select(Output.id, Output.status))}
    assert rows == {first: "done", second: "pending", third: "done"}
