"""Accounts: argon2 passwords, sessions, invitations, the one-click local admin, tokens and CSRF."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import event, select

from app.core.settings import Settings
from app.main import create_app
from app.models import ApiToken, User, UserSession
from app.state import AppState
from tests.conftest import browser, csrf_of, sign_in
from tests.factories import PASSWORD, make_user


async def test_passwords_are_argon2_and_sign_in_sets_a_safe_cookie(app: FastAPI, state: AppState) -> None:
    await make_user(state, "ada", "rater")
    async with state.sessions() as session:
        user = await session.scalar(select(User).where(User.name == "ada"))
        assert user is not None and user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
    async with browser(app) as http:
        token = await csrf_of(http)
        response = await http.post(
            "/login", data={"csrf_token": token, "name": "ada", "password": PASSWORD, "next": "/queues"}
        )
        assert response.status_code == 303 and response.headers["location"] == "/queues"
        cookie = response.headers["set-cookie"].lower()
        assert "triptych_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
        page = await http.get("/queues")
        assert page.status_code == 200 and "ada" in page.text
    async with state.sessions() as session:
        stored = (await session.scalars(select(UserSession))).all()
        assert (
            len(stored) == 1
            and stored[0].token_hash == hashlib.sha256(http.cookies["triptych_session"].encode()).hexdigest()
        )


async def test_session_cookie_is_secure_over_https(app: FastAPI, state: AppState) -> None:
    await make_user(state, "sam", "viewer")
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="https://triptych.example") as http:
        token = await csrf_of(http)
        response = await http.post("/login", data={"csrf_token": token, "name": "sam", "password": PASSWORD})
    assert response.status_code == 303 and "secure" in response.headers["set-cookie"].lower()


@pytest.mark.parametrize("target", ["//evil.example/x", "https://evil.example", "/\\evil.example"])
async def test_sign_in_never_redirects_off_site(app: FastAPI, state: AppState, target: str) -> None:
    await make_user(state, "ned", "viewer")
    async with browser(app) as http:
        token = await csrf_of(http)
        response = await http.post(
            "/login", data={"csrf_token": token, "name": "ned", "password": PASSWORD, "next": target}
        )
    assert response.status_code == 303 and response.headers["location"] == "/"


async def test_wrong_passwords_are_refused_then_throttled(app: FastAPI, state: AppState) -> None:
    await make_user(state, "eve", "rater")
    async with browser(app) as http:
        token = await csrf_of(http)
        for _ in range(10):
            wrong = await http.post(
                "/login", data={"csrf_token": token, "name": "eve", "password": "not it at all"}
            )
            assert wrong.status_code == 401 and "wrong name or password" in wrong.text
        blocked = await http.post("/login", data={"csrf_token": token, "name": "eve", "password": PASSWORD})
        assert blocked.status_code == 429
        assert "triptych_session" not in http.cookies
        unknown = await http.post(
            "/login", data={"csrf_token": token, "name": "nobody", "password": PASSWORD}
        )
        assert unknown.status_code == 429  # the address is throttled too


async def test_sign_out_ends_the_session_everywhere_it_was_used(app: FastAPI, state: AppState) -> None:
    await make_user(state, "liz", "rater")
    async with browser(app) as http:
        await sign_in(http, "liz", PASSWORD)
        stolen = http.cookies["triptych_session"]
        out = await http.post("/logout", data={"csrf_token": await csrf_of(http)})
        assert out.status_code == 303
    async with browser(app) as replay:
        replay.cookies.set("triptych_session", stolen)
        response = await replay.get("/")
    assert response.status_code == 303 and "/login" in response.headers["location"]


async def test_invitation_sets_a_password_once(
    client: httpx.AsyncClient, auth: dict[str, str], app: FastAPI
) -> None:
    created = await client.post("/api/v1/users", json={"name": "ivy", "role": "rater"}, headers=auth)
    assert created.status_code == 201 and created.json()["status"] == "invited"
    link = created.json()["invite_url"]
    path = httpx.URL(link).path
    async with browser(app) as http:
        page = await http.get(path)
        assert page.status_code == 200 and "Welcome, ivy" in page.text
        token = await csrf_of(http)
        short = await http.post(path, data={"csrf_token": token, "password": "short", "confirm": "short"})
        assert short.status_code == 422 and "at least 10" in short.text
        accepted = await http.post(
            path, data={"csrf_token": token, "password": PASSWORD, "confirm": PASSWORD}
        )
        assert accepted.status_code == 303 and "triptych_session" in http.cookies
        again = await http.get(path)
        assert again.status_code == 404
    users = (await client.get("/api/v1/users", headers=auth)).json()
    assert {u["name"]: u["status"] for u in users}["ivy"] == "active"


async def test_disabling_a_user_ends_sessions_and_tokens(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    headers = await make_user(state, "dan", "rater")
    async with browser(app) as http:
        await sign_in(http, "dan", PASSWORD)
        users = {u["name"]: u["id"] for u in (await client.get("/api/v1/users", headers=auth)).json()}
        disabled = await client.patch(f"/api/v1/users/{users['dan']}", json={"disabled": True}, headers=auth)
        assert disabled.status_code == 200 and disabled.json()["status"] == "disabled"
        assert (await http.get("/")).status_code == 303
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 401


async def test_the_last_admin_cannot_be_demoted(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    await make_user(state, "boss", "admin")
    users = {u["name"]: u["id"] for u in (await client.get("/api/v1/users", headers=auth)).json()}
    # local-admin (the fixture's one-click session) and boss are both admins: one may go.
    assert (
        await client.patch(f"/api/v1/users/{users['boss']}", json={"role": "rater"}, headers=auth)
    ).status_code == 200
    last = await client.patch(f"/api/v1/users/{users['local-admin']}", json={"role": "viewer"}, headers=auth)
    assert last.status_code == 409 and "last active admin" in last.json()["detail"]


async def test_duplicate_and_reserved_names_are_refused(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    assert (await client.post("/api/v1/users", json={"name": "kim"}, headers=auth)).status_code == 201
    assert (await client.post("/api/v1/users", json={"name": "kim"}, headers=auth)).status_code == 409
    assert (await client.post("/api/v1/users", json={"name": "local-admin"}, headers=auth)).status_code == 422
    assert (await client.post("/api/v1/users", json={"name": "a b<script>"}, headers=auth)).status_code == 422
    assert (
        await client.post("/api/v1/users", json={"name": "x", "role": "god"}, headers=auth)
    ).status_code == 422


async def test_one_click_local_admin_goes_away_once_accounts_exist(app: FastAPI, state: AppState) -> None:
    async with browser(app) as http:
        assert "Continue as local admin" in (await http.get("/login")).text
        await make_user(state, "first", "admin")
        assert "Continue as local admin" not in (await http.get("/login")).text
        refused = await http.post("/login/local", data={"csrf_token": await csrf_of(http)})
        assert refused.status_code == 403


async def test_no_one_click_admin_when_bound_beyond_loopback(settings: Settings) -> None:
    public = create_app(settings.model_copy(update={"host": "0.0.0.0"}))
    async with public.router.lifespan_context(public), browser(public) as http:
        assert "Continue as local admin" not in (await http.get("/login")).text
        refused = await http.post("/login/local", data={"csrf_token": await csrf_of(http)})
        assert refused.status_code == 403


async def test_tokens_are_per_user_hashed_and_revocable(client: httpx.AsyncClient, state: AppState) -> None:
    headers = await make_user(state, "tia", "viewer")
    me = await client.get("/api/v1/me", headers=headers)
    assert me.json() == {"name": "tia", "role": "viewer"}
    created = await client.post("/api/v1/tokens", json={"name": "ci"}, headers=headers)
    assert created.status_code == 201
    secret = created.json()["token"]
    second = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/me", headers=second)).json()["name"] == "tia"
    listed = (await client.get("/api/v1/tokens", headers=headers)).json()
    assert all(t["token"] is None for t in listed) and secret not in str(listed)
    async with state.sessions() as session:
        hashes = set((await session.scalars(select(ApiToken.token_hash))).all())
    assert hashlib.sha256(secret.encode()).hexdigest() in hashes and secret not in hashes
    other = await make_user(state, "ulf", "admin")
    stolen = await client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=other)
    assert stolen.status_code == 404  # nobody revokes someone else's token through this route
    assert (await client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=headers)).status_code == 204
    assert (await client.get("/api/v1/me", headers=second)).status_code == 401


async def test_account_page_shows_a_new_token_once(client: httpx.AsyncClient) -> None:
    token = await csrf_of(client)
    created = await client.post("/account/tokens", data={"csrf_token": token, "name": "laptop"})
    assert created.status_code == 201 and "tt_" in created.text
    page = await client.get("/account")
    assert "laptop" in page.text and "tt_" not in page.text


@pytest.mark.parametrize("path", ["/login", "/logout", "/comparisons", "/users", "/account/tokens"])
async def test_form_posts_without_the_csrf_token_are_refused(client: httpx.AsyncClient, path: str) -> None:
    response = await client.post(path, data={"name": "x", "password": "y", "query": "q"})
    assert response.status_code == 403 and "CSRF" in response.text
    forged = await client.post(path, data={"csrf_token": "forged"})
    assert forged.status_code == 403


async def test_a_token_lookup_is_one_statement_and_records_the_tokens_use(
    client: httpx.AsyncClient, state: AppState
) -> None:
    """Who is asking is looked up in a session of its own (in autocommit on PostgreSQL: no BEGIN and COMMIT
    round trips around the one SELECT), and the token's use is still written down."""
    headers = await make_user(state, "val", "viewer")
    token_hash = hashlib.sha256(headers["Authorization"].split()[1].encode()).hexdigest()
    used_at = select(ApiToken.last_used_at).where(ApiToken.token_hash == token_hash)
    async with state.sessions() as session:
        assert await session.scalar(used_at) is None
    lookups: list[tuple[str, bool | None]] = []

    def seen(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "FROM api_tokens" in statement:
            driver = conn.connection.driver_connection
            lookups.append((statement, getattr(driver, "autocommit", None)))

    event.listen(state.engine.sync_engine, "before_cursor_execute", seen)
    try:
        assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    finally:
        event.remove(state.engine.sync_engine, "before_cursor_execute", seen)
    assert len(lookups) == 1
    if state.engine.dialect.name == "postgresql":
        assert lookups[0][1] is True
    async with state.sessions() as session:
        assert await session.scalar(used_at) is not None
