"""CSRF that holds against a same-site attacker: tokens bound to the session, and an Origin/Referer check."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from app.state import AppState
from tests.accounts.test_roles import _concrete, write_routes
from tests.conftest import browser, csrf_of, sign_in
from tests.factories import PASSWORD, make_user


async def _viewer_id(client: httpx.AsyncClient, auth: dict[str, str]) -> int:
    users = (await client.get("/api/v1/users", headers=auth)).json()
    return next(u["id"] for u in users if u["name"] == "vic")


async def _role_of_vic(client: httpx.AsyncClient, auth: dict[str, str]) -> str:
    users = (await client.get("/api/v1/users", headers=auth)).json()
    return str(next(u["role"] for u in users if u["name"] == "vic"))


async def test_a_tossed_cookie_gives_no_usable_token(
    app: FastAPI, client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    """The attack that worked: set triptych_csrf=KNOWN from a same-site page, then post KNOWN."""
    await make_user(state, "vic", "viewer")
    victim_id = await _viewer_id(client, auth)
    client.cookies.set("triptych_csrf", "KNOWN")
    forged = await client.post(f"/users/{victim_id}", data={"csrf_token": "KNOWN", "role": "admin"})
    assert forged.status_code == 403
    assert await _role_of_vic(client, auth) == "viewer"
    # The token of one session is no good in another.
    async with browser(app) as other:
        await make_user(state, "ann", "admin")
        await sign_in(other, "ann", PASSWORD)
        theirs = await csrf_of(other)
        assert theirs != await csrf_of(client)
        refused = await client.post(f"/users/{victim_id}", data={"csrf_token": theirs, "role": "admin"})
        assert refused.status_code == 403
    assert await _role_of_vic(client, auth) == "viewer"
    # The page's own token works.
    done = await client.post(f"/users/{victim_id}", data={"csrf_token": await csrf_of(client), "role": "rater"})
    assert done.status_code == 303 and await _role_of_vic(client, auth) == "rater"


async def test_signing_in_changes_the_token(app: FastAPI, state: AppState) -> None:
    await make_user(state, "ann", "admin")
    async with browser(app) as http:
        before = await csrf_of(http)
        await sign_in(http, "ann", PASSWORD)
        assert await csrf_of(http) != before


async def test_a_form_from_another_origin_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    await make_user(state, "vic", "viewer")
    victim_id = await _viewer_id(client, auth)
    token = await csrf_of(client)
    for headers in (
        {"Origin": "http://127.0.0.1:8001"},  # another port of the same host
        {"Origin": "http://evil.127.0.0.1:8000"},
        {"Origin": "null"},
        {"Referer": "http://127.0.0.1:9999/attack.html"},  # no Origin: the Referer decides
    ):
        refused = await client.post(
            f"/users/{victim_id}", data={"csrf_token": token, "role": "admin"}, headers=headers
        )
        assert refused.status_code == 403 and "cross-origin" in refused.text, headers
    assert await _role_of_vic(client, auth) == "viewer"
    same = await client.post(
        f"/users/{victim_id}",
        data={"csrf_token": token, "role": "rater"},
        headers={"Origin": "http://127.0.0.1:8000", "Referer": "http://127.0.0.1:8000/users"},
    )
    assert same.status_code == 303


async def test_trusted_origins_are_accepted(app: FastAPI, client: httpx.AsyncClient) -> None:
    app.state.settings.trusted_origins = ["https://triptych.example.com"]
    answer = await client.post(
        "/logout",
        data={"csrf_token": await csrf_of(client)},
        headers={"Origin": "https://triptych.example.com"},
    )
    assert answer.status_code == 303


async def test_every_unsafe_page_route_checks_the_token(app: FastAPI, client: httpx.AsyncClient) -> None:
    checked = 0
    for method, path in write_routes(app):
        if path.startswith("/api/"):
            continue
        refused = await client.request(method, _concrete(path), data={"csrf_token": "forged"})
        assert refused.status_code == 403 and "CSRF" in refused.text, (method, path)
        checked += 1
    assert checked >= 20


async def test_cookies_are_host_prefixed_over_https(app: FastAPI) -> None:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="https://127.0.0.1:8443") as http:
        login = await http.get("/login")
        cookie = login.headers["set-cookie"]
        assert cookie.startswith("__Host-triptych_csrf=") and "Secure" in cookie and "Path=/" in cookie
        answer = await http.post("/login/local", data={"csrf_token": await csrf_of(http)})
        assert answer.status_code == 303
        assert answer.headers["set-cookie"].startswith("__Host-triptych_session=")
        assert (await http.get("/")).status_code == 200  # signed in through the prefixed cookie
