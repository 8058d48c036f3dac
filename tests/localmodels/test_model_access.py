"""Who may call the bundled model server: anyone on a loopback-only app (local tools), an API token holder
(or the app itself) on an app listening beyond loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from tests.conftest import API_TOKEN, make_settings, wipe


@pytest.fixture(params=["127.0.0.1", "0.0.0.0"])
async def served(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, str]]:
    settings = make_settings(database_url, tmp_path / "data", serve_local_model=True, host=request.param)
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application, request.param
        await wipe(application.state.triptych)


async def test_the_model_server_needs_a_token_unless_bound_to_loopback(served: tuple[FastAPI, str]) -> None:
    app, host = served
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as http:
        anonymous = await http.get("/local/v1/models")
        wrong = await http.get("/local/v1/models", headers={"Authorization": "Bearer tt_nope"})
        token = await http.get("/local/v1/models", headers={"Authorization": f"Bearer {API_TOKEN}"})
        own = await http.get(
            "/local/v1/models",
            headers={"Authorization": f"Bearer {app.state.triptych.cipher.local_model_token()}"},
        )
        chat = await http.post("/local/v1/chat/completions", json={"model": "x", "messages": []})
    if host == "127.0.0.1":
        assert anonymous.status_code == wrong.status_code == 200
    else:
        for refused in (anonymous, wrong, chat):
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "invalid_api_key"
    assert token.status_code == own.status_code == 200
    assert any(m["id"].startswith("smollm2") for m in token.json()["data"])
