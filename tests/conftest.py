"""Shared fixtures: every database test runs on a real SQLite file and on the local PostgreSQL."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.core.migrate import upgrade_database
from app.core.settings import Settings
from app.main import create_app
from app.state import AppState
from tests.databases import blank_database
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer
from tests.servers import free_port

API_TOKEN = "tt_test-token-for-the-suite"


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of its own for this test session: a SQLite file, or a fresh PG database."""
    with blank_database(request.param, tmp_path_factory.mktemp("sqlite")) as url:
        upgrade_database(url)
        yield url


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Embedded defaults in a temp data dir; no bundled model, no demo unless a test asks."""
    values: dict[str, Any] = {
        "serve_local_model": False,
        "load_demo": False,
        "demo_finetune": False,
        "api_token": API_TOKEN,
        "local_model_url": "http://127.0.0.1:9/v1",
    }
    return Settings(data_dir=data_dir, database_url=database_url, **(values | overrides))



@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Chroma's own server (shipped with the chromadb package) on a loopback port."""
    port = free_port()
    chroma = Path(sys.executable).parent / "chroma"
    process = subprocess.Popen(
        [
            str(chroma),
            "run",
            "--path",
            str(tmp_path_factory.mktemp("chroma-server")),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("chroma run did not start")
        time.sleep(0.2)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data")


async def wipe(state: AppState) -> None:
    """Empty every table and drop the knowledge bases' Chroma collections (a Chroma server is shared)."""
    from sqlalchemy import select, text

    from app.models import Base, KnowledgeBase

    async with state.sessions() as session:
        collections = (await session.scalars(select(KnowledgeBase.collection_name))).all()
    for name in collections:
        state.store.drop_collection(name)
    async with state.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            await conn.execute(table.delete())
        if conn.dialect.name == "postgresql":  # the job queue's own tables (procrastinate)
            await conn.execute(text("TRUNCATE procrastinate_jobs, procrastinate_workers CASCADE"))


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The real app with its lifespan run; tables are emptied afterwards (the schema is per session)."""
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application
        await application.state.triptych.jobs.aclose()  # no job writes while the tables are emptied
        await wipe(application.state.triptych)


@pytest.fixture
def state(app: FastAPI) -> AppState:
    result: AppState = app.state.triptych
    return result


def browser(app: FastAPI, address: str = "127.0.0.1") -> httpx.AsyncClient:
    """A cookie-keeping HTTP client into the app, arriving from `address`."""
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")


CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def csrf_in(page: str) -> str:
    """The CSRF token a rendered page carries."""
    found = CSRF_META.search(page)
    assert found, "the page carries no CSRF token"
    return found.group(1)


async def csrf_of(http: httpx.AsyncClient) -> str:
    """The CSRF token a page hands this client now (bound to its session, or its pre-session cookie before
    sign-in: fetch it again after signing in or out)."""
    page = await http.get("/login", follow_redirects=True)
    page.raise_for_status()
    return csrf_in(page.text)


async def sign_in(http: httpx.AsyncClient, name: str | None = None, password: str | None = None) -> None:
    """Sign in with a password, or (no name) through the one-click local admin."""
    token = await csrf_of(http)
    if name is None:
        response = await http.post("/login/local", data={"csrf_token": token})
    else:
        response = await http.post("/login", data={"csrf_token": token, "name": name, "password": password})
    assert response.status_code == 303, response.text
    assert "triptych_session" in http.cookies


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A local browser signed in as the one-click local admin (API calls still need `auth`)."""
    async with browser(app) as http:
        await sign_in(http)
        yield http


@pytest.fixture
async def anonymous(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A local browser that has not signed in."""
    async with browser(app) as http:
        yield http


@pytest.fixture
def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_TOKEN}"}


@pytest.fixture(scope="session")
def fake_llm() -> Iterator[FakeOpenAIServer]:
    """An OpenAI-compatible server on loopback whose models answer at once (for rating tests)."""
    models = {
        "alpha": FakeModel(reply="Alpha: new employees get 22 vacation days."),
        "beta": FakeModel(reply="Beta: 20 days, plus public holidays."),
        "gamma": FakeModel(reply="Gamma: it depends on the contract."),
        "delta": FakeModel(reply="Delta: see the handbook."),
    }
    with FakeOpenAIServer(models) as server:
        yield server


E2E_ADMIN = "alice"


@pytest.fixture(scope="session")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`make run` in miniature: a real server with embedded SQLite + Chroma, the demo loaded and the bundled
    model mounted at /local; an admin account `alice` exists. Yields (base url, admin API token)."""
    from tests.factories import PASSWORD
    from tests.servers import ServerThread, free_port

    data_dir: Path = tmp_path_factory.mktemp("e2e") / "data"
    port = free_port()
    # The demo's background fine-tune is tested on its own (tests/finetune): here it would race the pages
    # that show the base-model stand-in, and share the CPU with every browser test.
    settings = Settings(data_dir=data_dir, host="127.0.0.1", port=port, load_demo=True, demo_finetune=False)
    with ServerThread(create_app(settings), port=port, startup_timeout=300) as server:
        token = (data_dir / "api-token").read_text().strip()
        created = httpx.post(
            f"{server.url}/api/v1/users",
            json={"name": E2E_ADMIN, "role": "admin", "password": PASSWORD},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert created.status_code == 201, created.text
        yield server.url, token
