"""The REST contract's edges: authentication, and clear 4xx errors for bad input."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import create_endpoint, create_variant


async def test_healthz_needs_no_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/variants"),
        ("POST", "/api/v1/variants"),
        ("POST", "/api/v1/comparisons"),
        ("GET", "/api/v1/comparisons/1"),
        ("POST", "/api/v1/comparisons/1/ratings"),
        ("POST", "/api/v1/endpoints"),
        ("PATCH", "/api/v1/endpoints/1"),
        ("DELETE", "/api/v1/variants/1"),
        ("POST", "/api/v1/example-sets"),
    ],
)
async def test_api_requires_a_valid_bearer_token(client: httpx.AsyncClient, method: str, path: str) -> None:
    missing = await client.request(method, path, json={})
    wrong = await client.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
    assert missing.status_code == 401
    assert wrong.status_code == 401
    assert "token" in wrong.json()["detail"]


async def test_revoked_token_is_rejected(client: httpx.AsyncClient, state) -> None:  # type: ignore[no-untyped-def]
    from app.accounts.service import create_token, revoke_token

    async with state.sessions.begin() as session:
        token = await create_token(session, "ci-bot")
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/variants", headers=headers)).status_code == 200
    async with state.sessions.begin() as session:
        assert await revoke_token(session, "ci-bot")
    assert (await client.get("/api/v1/variants", headers=headers)).status_code == 401


async def test_tokens_are_stored_hashed(state) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import select

    from app.accounts.service import create_token, hash_token
    from app.models import ApiToken

    async with state.sessions.begin() as session:
        token = await create_token(session, "hashed")
    async with state.sessions() as session:
        stored = (await session.scalars(select(ApiToken.token_hash))).all()
    assert token not in stored
    assert hash_token(token) in stored


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"query": ""}, "empty"),
        ({"query": "   "}, "empty"),
        ({"query": "x" * 20_000}, "limit"),
        ({}, "missing"),
        ({"query": "hi", "variant_ids": []}, "at least 1"),
        ({"query": "hi", "unexpected": 1}, "Extra inputs"),
    ],
)
async def test_bad_comparison_input_is_a_clear_422(
    client: httpx.AsyncClient, auth: dict[str, str], body: dict[str, object], fragment: str
) -> None:
    response = await client.post("/api/v1/comparisons", json=body, headers=auth)
    assert response.status_code == 422
    assert fragment in response.text
    assert "x" * 100 not in response.text  # the oversized input is not echoed back


async def test_malformed_json_is_a_422(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    response = await client.post(
        "/api/v1/comparisons",
        content=b'{"query": "unterminated',
        headers=auth | {"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert "json" in response.text.lower()


async def test_unknown_variant_id_is_a_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, auth)
    variant = await create_variant(client, auth, endpoint["id"])
    response = await client.post(
        "/api/v1/comparisons", json={"query": "hi", "variant_ids": [variant["id"], 999_999]}, headers=auth
    )
    # A reference to a missing row is bad input (422), not a missing resource (404): the URL exists.
    assert response.status_code == 422
    assert "999999" in response.json()["detail"] and "variant_ids" in response.json()["detail"]
    assert (await client.get("/api/v1/comparisons", headers=auth)).json() == []


async def test_unknown_ids_are_404(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    for path in (
        "/api/v1/comparisons/999",
        "/api/v1/variants/999",
        "/api/v1/endpoints/999",
        "/api/v1/example-sets/999",
    ):
        response = await client.get(path, headers=auth)
        assert response.status_code == 404, path
        assert "not found" in response.json()["detail"]
