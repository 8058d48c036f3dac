"""The SQLite driver adapter: one trip to the driver's thread per statement, and otherwise what SQLAlchemy's
aiosqlite adapter gives (rows, counts, errors, streamed results)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.database import create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'one-trip.db'}")
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every call that crosses to an aiosqlite connection's thread."""
    calls: list[Any] = []
    real = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(fn)
        return await real(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return calls


async def test_each_statement_is_one_trip_with_its_rows_and_counts(engine: AsyncEngine, trips: list[Any]) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))  # the connection's own set-up trips happen before we count
        trips.clear()
        inserted = await conn.execute(
            text("INSERT INTO items (name) VALUES (:name) RETURNING id, name"), {"name": "first"}
        )
        assert inserted.all() == [(1, "first")]
        many = await conn.execute(text("INSERT INTO items (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}])
        assert many.rowcount == 2
        read = await conn.execute(text("SELECT name FROM items ORDER BY id"))
        assert read.scalars().all() == ["first", "b", "c"]
        batches = await conn.execute(text("SELECT name FROM items ORDER BY id"))
        assert [len(batch) for batch in batches.partitions()] == [1, 1, 1]  # the DBAPI's default arraysize
        changed = await conn.execute(text("UPDATE items SET name = name || '!' WHERE id > 1"))
        assert changed.rowcount == 2
        assert len(trips) == 5  # SQLAlchemy's own adapter took 4 per statement: cursor, execute, fetch, close
        await conn.commit()


async def test_errors_keep_their_kind_and_the_connection_goes_on(engine: AsyncEngine) -> None:
    async with engine.connect() as conn:
        await conn.execute(text("INSERT INTO items (name) VALUES ('same')"))
        with pytest.raises(IntegrityError):
            await conn.execute(text("INSERT INTO items (name) VALUES ('same')"))
        await conn.rollback()
        assert (await conn.execute(text("SELECT count(*) FROM items"))).scalar_one() == 0


async def test_streamed_results_still_stream(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO items (name) VALUES (:name)"), [{"name": f"n{i}"} for i in range(50)])
        streamed = await conn.stream(text("SELECT name FROM items ORDER BY id"))
        names = [row[0] async for row in streamed]
    assert names == [f"n{i}" for i in range(50)]
