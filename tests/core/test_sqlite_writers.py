"""SQLite's writers queue in the process, first come first served: a second writer waits for the first to
commit (no "database is locked", no busy-handler sleeps), readers are never held, and a rolled-back or
failed writer gives its place back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.database import create_engine


async def test_writers_queue_in_order_and_readers_go_on(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
    try:
        await _queue_in_order(engine)
    finally:
        await engine.dispose()


async def _queue_in_order(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (n INTEGER)"))
    order: list[str] = []
    first_wrote = asyncio.Event()
    release_first = asyncio.Event()

    async def first() -> None:
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (1)"))
            first_wrote.set()
            await release_first.wait()  # holds the write transaction open
            order.append("first commits")

    connected = {n: asyncio.Event() for n in (2, 3, 4)}
    go = {n: asyncio.Event() for n in (2, 3, 4)}

    async def writer(n: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT 1"))  # its connection is open: nothing but the queue lies ahead
            connected[n].set()
            await go[n].wait()
            await conn.execute(text(f"INSERT INTO t VALUES ({n})"))
            order.append(f"writer {n}")

    holder = asyncio.create_task(first())
    await first_wrote.wait()
    waiting = [asyncio.create_task(writer(n)) for n in (2, 3, 4)]
    for n in (2, 3, 4):
        await connected[n].wait()
    for n in (2, 3, 4):  # they reach the queue in this order
        go[n].set()
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    assert order == []  # every later writer waits for the first, none failed
    async with engine.connect() as conn:  # a reader is not held: WAL shows it the last committed state
        assert await conn.scalar(text("SELECT count(*) FROM t")) == 0
    release_first.set()
    await asyncio.gather(holder, *waiting)
    assert order == ["first commits", "writer 2", "writer 3", "writer 4"]

    with pytest.raises(RuntimeError):  # a writer that fails gives its place back
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t VALUES (5)"))
            raise RuntimeError("the route failed")
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t VALUES (6)"))
    async with engine.connect() as conn:
        assert sorted(await conn.scalars(text("SELECT n FROM t"))) == [1, 2, 3, 4, 6]
