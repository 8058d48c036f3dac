"""Secrets stay secret: an upstream that echoes the key in any encoding, a key that must not follow a changed
URL, tokens that die with a reset, and answers that cannot grow without bound."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from app.models import Output
from app.providers.redaction import redact
from app.state import AppState
from tests.factories import create_endpoint, create_variant, make_user
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer

KEY = "sk-live-Secr3tKeyValue_0123456789"


def echoed_forms(key: str) -> dict[str, str]:
    raw = key.encode()
    return {
        "plain": key,
        "upper": key.upper(),
        "spaced": " ".join(key),
        "url-encoded": quote(key, safe=""),
        "percent-every-byte": "".join(f"%{b:02X}" for b in raw),
        "hex": raw.hex(),
        "base64": base64.b64encode(raw).decode(),
        "base64 of a Basic header": base64.b64encode(b"user:" + raw).decode(),
        "base64url, shifted": base64.urlsafe_b64encode(b"xy" + raw + b"z").decode(),
    }


@pytest.mark.parametrize("form", list(echoed_forms(KEY)))
def test_redaction_catches_every_form(form: str) -> None:
    text = f"Incorrect API key provided: {echoed_forms(KEY)[form]} (see docs)"
    cleaned = redact(text, KEY)
    assert "***" in cleaned and cleaned.startswith("Incorrect API key provided: ")
    for other in echoed_forms(KEY).values():
        assert other not in cleaned


def test_redaction_leaves_other_text_alone() -> None:
    text = "The model 'gpt-4o' is overloaded; retry in 2 s. Request id req_abc123."
    assert redact(text, KEY) == text


@pytest.fixture
def echoing_server() -> FakeOpenAIServer:
    forms = " | ".join(echoed_forms(KEY).values())
    models = {
        "echo-json": FakeModel(fail_status=401, error_body=json.dumps({"error": {"message": f"bad key {forms}"}})),
        "echo-html": FakeModel(fail_status=401, error_body=f"<html><body><h1>Denied</h1><pre>{forms}</pre></body></html>"),
    }
    with FakeOpenAIServer(models) as server:
        yield server


async def test_an_echoed_key_is_redacted_everywhere(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    state: AppState,
    echoing_server: FakeOpenAIServer,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    variants = []
    for model in ("echo-json", "echo-html"):
        endpoint = await create_endpoint(
            client, auth, name=model, base_url=echoing_server.base_url, model=model, api_key=KEY
        )
        variants.append((await create_variant(client, auth, endpoint["id"], name=f"v-{model}"))["id"])
    answer = await client.post("/api/v1/comparisons", json={"query": "hi", "variant_ids": variants}, headers=auth)
    assert answer.status_code == 201
    outputs = {o["variant"]["name"]: o for o in answer.json()["outputs"]}
    assert outputs["v-echo-json"]["error"].startswith("HTTP 401 from ")
    assert "bad key ***" in outputs["v-echo-json"]["error"]
    # A body that is not a JSON error is never shown: the status and its reason only.
    assert outputs["v-echo-html"]["error"].endswith(": Unauthorized")
    page = await client.get(f"/comparisons/{answer.json()['id']}")
    places = {"API": answer.text, "page": page.text, "log": caplog.text}
    async with state.sessions() as session:
        places["database"] = " ".join((await session.scalars(select(Output.error))).all())
    database_file = state.settings.data_dir / "triptych.db"
    if state.engine.dialect.name == "sqlite":
        places["database file"] = Path(state.engine.url.database or database_file).read_bytes().decode("latin-1")
    for where, text in places.items():
        for form, value in echoed_forms(KEY).items():
            assert value not in text, (where, form)
    assert "<pre>" not in answer.text and "Denied" not in answer.text


async def test_a_new_base_url_clears_the_stored_key(
    client: httpx.AsyncClient, auth: dict[str, str], fake_llm: FakeOpenAIServer
) -> None:
    endpoint = await create_endpoint(client, auth, base_url=fake_llm.base_url, model="alpha", api_key=KEY)
    elsewhere = fake_llm.base_url.replace("/v1", "/other/v1")
    moved = await client.patch(f"/api/v1/endpoints/{endpoint['id']}", json={"base_url": elsewhere}, headers=auth)
    assert moved.status_code == 200
    assert moved.json()["has_key"] is False and "key was removed" in moved.json()["notice"]
    # The same request may carry the key on: then it stays.
    rekeyed = await client.patch(
        f"/api/v1/endpoints/{endpoint['id']}", json={"base_url": fake_llm.base_url, "api_key": KEY}, headers=auth
    )
    assert rekeyed.json()["has_key"] is True and rekeyed.json()["notice"] is None
    # Other edits leave the key alone.
    renamed = await client.patch(f"/api/v1/endpoints/{endpoint['id']}", json={"name": "renamed"}, headers=auth)
    assert renamed.json()["has_key"] is True
    # Nothing carries the key to the new host afterwards.
    await client.patch(f"/api/v1/endpoints/{endpoint['id']}", json={"base_url": elsewhere}, headers=auth)
    variant = await create_variant(client, auth, endpoint["id"])
    fake_llm.headers.clear()
    await client.post("/api/v1/comparisons", json={"query": "q", "variant_ids": [variant["id"]]}, headers=auth)
    assert all("authorization" not in h for h in fake_llm.headers)


async def test_the_endpoint_form_says_the_key_was_removed(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    from tests.conftest import csrf_of

    endpoint = await create_endpoint(client, auth, name="keyed", api_key=KEY)
    form = {
        "csrf_token": await csrf_of(client),
        "name": "keyed",
        "kind": "openai",
        "base_url": "http://127.0.0.1:10/v1",
        "model": "m",
        "timeout_s": "60",
    }
    saved = await client.post(f"/endpoints/{endpoint['id']}", data=form, follow_redirects=True)
    assert saved.status_code == 200 and "the stored API key was removed" in saved.text


async def test_reset_revokes_api_tokens(client: httpx.AsyncClient, auth: dict[str, str], state: AppState) -> None:
    rita = await make_user(state, "rita", "rater")
    assert (await client.get("/api/v1/me", headers=rita)).status_code == 200
    user_id = next(u["id"] for u in (await client.get("/api/v1/users", headers=auth)).json() if u["name"] == "rita")
    assert (await client.post(f"/api/v1/users/{user_id}/reset", headers=auth)).status_code == 200
    assert (await client.get("/api/v1/me", headers=rita)).status_code == 401


async def test_a_huge_answer_is_cut_at_the_cap_and_marked(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    cap = state.settings.max_answer_kb * 1024
    with FakeOpenAIServer({"flood": FakeModel(reply="word " * 40_000, ignore_max_tokens=True)}) as server:
        endpoint = await create_endpoint(client, auth, base_url=server.base_url, model="flood")
        variant = await create_variant(client, auth, endpoint["id"], max_tokens=200)
        answer = await client.post("/api/v1/comparisons", json={"query": "q", "variant_ids": [variant["id"]]}, headers=auth)
    output = answer.json()["outputs"][0]
    assert output["status"] == "done" and output["truncated"] is True
    assert len(output["text"]) == cap
    page = await client.get(f"/comparisons/{answer.json()['id']}")
    assert "Cut: the answer was longer" in page.text
