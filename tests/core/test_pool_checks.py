"""PostgreSQL's pooled connections are checked before use only when in doubt (app/core/database.py
ping_when_in_doubt): no round trip for a connection just returned, a ping for one idle too long, and a
connection the server has closed (a restart, an administrator) is replaced without the caller seeing an error."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.core.database import create_engine
from tests.databases import PG_ADMIN_URL, blank_database

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with blank_database("postgresql", tmp_path_factory.mktemp("pool")) as url:
        yield url


@pytest.fixture
async def engine(pg_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(pg_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def pings(engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every ping the pool sends."""
    calls: list[Any] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        calls.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return calls


async def one_transaction(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        return int((await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())


def terminate(pid: int) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
        assert admin.execute("SELECT pg_terminate_backend(%s)", (pid,)).fetchone() == (True,)


async def test_a_connection_just_returned_is_used_without_a_ping(engine: AsyncEngine, pings: list[Any]) -> None:
    backends = {await one_transaction(engine) for _ in range(5)}
    assert len(backends) == 1  # the same pooled connection each time
    assert pings == []


async def test_a_connection_the_server_closed_is_replaced_without_an_error(
    engine: AsyncEngine, pings: list[Any]
) -> None:
    first = await one_transaction(engine)
    terminate(first)
    await asyncio.sleep(0.2)  # the server's goodbye reaches the idle socket
    second = await one_transaction(engine)
    assert second != first
    assert len(pings) == 1  # asked because the socket had something to say; the answer was no


async def test_a_connection_idle_too_long_is_pinged_first(
    engine: AsyncEngine, pings: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    await one_transaction(engine)
    later = time.monotonic() + 60
    monkeypatch.setattr("app.core.database.time.monotonic", lambda: later)
    await one_transaction(engine)
    assert len(pings) == 1

