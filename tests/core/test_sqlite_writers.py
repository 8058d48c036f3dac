"""SQLite's writers queue in the process, first come first served: a second writer waits for the first to
commit (no "database is locked", no busy-handler sleeps), readers are never held, and a rolled-back or
failed writer gives its place back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

from app.core.database import create_engine


async def test_writers_queue_in_order_and_readers_go_on(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'w.db'}")
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

    async def writer(n: int) -> None:
        async with engine.begin() as conn:
            await conn.execute(text(f"INSERT INTO t VALUES ({n})"))
            order.append(f"writer {n}")

    holder = asyncio.create_task(first())
    await first_wrote.wait()
    waiting = [asyncio.create_task(writer(n)) for n in (2, 3, 4)]
    await asyncio.sleep(0.3)
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
    await engine.dispose()
