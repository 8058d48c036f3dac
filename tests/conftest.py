"""Shared fixtures: every database test runs on a real SQLite file and on the local PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.migrate import upgrade_database
from app.state import AppState

API_TOKEN = "tt_test-token-for-the-suite"
# The admin connection used to create one throwaway database per test session.
PG_ADMIN_URL = os.environ.get("TRIPTYCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _pg_url_for(database: str) -> str:
    base, _, _old = PG_ADMIN_URL.rpartition("/")
    return f"{base}/{database}".replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of its own for this test session: a SQLite file, or a fresh PG database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('sqlite') / 'triptych.db'}"
        upgrade_database(url)
        yield url
        return
    name = f"triptych_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = _pg_url_for(name)
        upgrade_database(url)
        yield url
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Embedded defaults in a temp data dir; no bundled model, no demo unless a test asks."""
    return Settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        serve_local_model=False,
        load_demo=False,
        api_token=API_TOKEN,
        local_model_url="http://127.0.0.1:9/v1",
    )


async def wipe(state: AppState) -> None:
    """Empty every table and drop the knowledge bases' Chroma collections (a Chroma server is shared)."""
    from sqlalchemy import select

    from app.models import Base, KnowledgeBase

    async with state.sessions() as session:
        collections = (await session.scalars(select(KnowledgeBase.collection_name))).all()
    for name in collections:
        state.store.drop_collection(name)
    async with state.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The real app with its lifespan run; tables are emptied afterwards (the schema is per session)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        await wipe(application.state.triptych)


@pytest.fixture
def state(app: FastAPI) -> AppState:
    result: AppState = app.state.triptych
    return result


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client into the app, arriving from a loopback address like a local browser would."""
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        yield http


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}"}
