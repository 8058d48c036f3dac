"""Every write route, API and browser alike, is checked against the role it needs (a table over the whole
route list: a new write route fails this test until it is classified)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from app.state import AppState
from tests.conftest import browser, csrf_of, sign_in
from tests.factories import PASSWORD, make_user

WRITES = ("POST", "PUT", "PATCH", "DELETE")
# (method, path) -> the least role that may call it; "public" needs no sign-in (sign-in itself, invitations),
# "unblinded" means admins and viewers but not raters.
REQUIRED = {
    ("POST", "/api/v1/endpoints"): "admin",
    ("PATCH", "/api/v1/endpoints/{endpoint_id}"): "admin",
    ("DELETE", "/api/v1/endpoints/{endpoint_id}"): "admin",
    ("POST", "/api/v1/variants"): "admin",
    ("PATCH", "/api/v1/variants/{variant_id}"): "admin",
    ("DELETE", "/api/v1/variants/{variant_id}"): "admin",
    ("POST", "/api/v1/example-sets"): "admin",
    ("PATCH", "/api/v1/example-sets/{set_id}"): "admin",
    ("DELETE", "/api/v1/example-sets/{set_id}"): "admin",
    ("POST", "/api/v1/knowledge-bases"): "admin",
    ("DELETE", "/api/v1/knowledge-bases/{kb_id}"): "admin",
    ("POST", "/api/v1/knowledge-bases/{kb_id}/documents"): "admin",
    ("DELETE", "/api/v1/knowledge-bases/{kb_id}/documents/{document_id}"): "admin",
    ("POST", "/api/v1/knowledge-bases/{kb_id}/reingest"): "admin",
    ("PUT", "/api/v1/outputs/{output_id}/contexts/{rank}/judgement"): "rater",
    ("POST", "/api/v1/comparisons"): "rater",
    ("POST", "/api/v1/comparisons/{comparison_id}/ratings"): "rater",
    ("POST", "/api/v1/comparisons/{comparison_id}/stop"): "rater",
    ("POST", "/api/v1/sessions"): "rater",
    ("POST", "/api/v1/sessions/{session_id}/turns"): "rater",
    ("PUT", "/api/v1/rubric"): "admin",
    ("POST", "/api/v1/users"): "admin",
    ("PATCH", "/api/v1/users/{user_id}"): "admin",
    ("POST", "/api/v1/users/{user_id}/reset"): "admin",
    ("POST", "/api/v1/tokens"): "viewer",
    ("DELETE", "/api/v1/tokens/{token_id}"): "viewer",
    ("POST", "/api/v1/queues"): "admin",
    ("DELETE", "/api/v1/queues/{queue_id}"): "admin",
    ("POST", "/api/v1/datasets"): "admin",
    ("PATCH", "/api/v1/datasets/{dataset_id}"): "admin",
    ("DELETE", "/api/v1/datasets/{dataset_id}"): "admin",
    ("POST", "/api/v1/experiments"): "admin",
    ("POST", "/api/v1/experiments/{experiment_id}/cancel"): "admin",
    ("POST", "/api/v1/experiments/{experiment_id}/resume"): "admin",
    ("POST", "/api/v1/training-sets"): "admin",
    ("POST", "/api/v1/finetune/jobs"): "admin",
    ("POST", "/api/v1/finetune/jobs/{job_id}/cancel"): "admin",
    ("POST", "/api/v1/finetune/jobs/{job_id}/variants"): "admin",
    # The browser UI
    ("POST", "/login"): "public",
    ("POST", "/login/local"): "public",
    ("POST", "/logout"): "public",
    ("POST", "/invite/{invite}"): "public",
    ("POST", "/users"): "admin",
    ("POST", "/users/{user_id}"): "admin",
    ("POST", "/account/tokens"): "viewer",
    ("POST", "/account/tokens/{token_id}/revoke"): "viewer",
    ("POST", "/comparisons"): "rater",
    ("POST", "/comparisons/{comparison_id}/rate"): "rater",
    ("POST", "/comparisons/{comparison_id}/stop"): "rater",
    ("POST", "/comparisons/{comparison_id}/follow-up"): "rater",
    ("POST", "/sessions/{session_id}/turns"): "rater",
    ("POST", "/outputs/{output_id}/contexts/{rank}/judgement"): "rater",
    ("POST", "/queues"): "admin",
    ("POST", "/queues/{queue_id}/delete"): "admin",
    ("POST", "/datasets"): "admin",
    ("POST", "/datasets/{dataset_id}"): "admin",
    ("POST", "/datasets/{dataset_id}/archive"): "admin",
    ("POST", "/experiments"): "admin",
    ("POST", "/experiments/{experiment_id}/cancel"): "admin",
    ("POST", "/experiments/{experiment_id}/resume"): "admin",
    ("POST", "/finetune/training-sets"): "admin",
    ("POST", "/finetune/jobs"): "admin",
    ("POST", "/finetune/jobs/{job_id}/cancel"): "admin",
    ("POST", "/finetune/jobs/{job_id}/variants"): "admin",
    ("POST", "/variants"): "admin",
    ("POST", "/variants/{variant_id}"): "admin",
    ("POST", "/variants/{variant_id}/archive"): "admin",
    ("POST", "/endpoints"): "admin",
    ("POST", "/endpoints/{endpoint_id}"): "admin",
    ("POST", "/endpoints/{endpoint_id}/archive"): "admin",
    ("POST", "/example-sets"): "admin",
    ("POST", "/example-sets/{set_id}"): "admin",
    ("POST", "/example-sets/{set_id}/archive"): "admin",
    ("POST", "/knowledge-bases"): "admin",
    ("POST", "/knowledge-bases/{kb_id}/documents"): "admin",
    ("POST", "/knowledge-bases/{kb_id}/documents/{document_id}/delete"): "admin",
    ("POST", "/knowledge-bases/{kb_id}/reingest"): "admin",
    ("POST", "/knowledge-bases/{kb_id}/delete"): "admin",
}
# Who is one step too weak for each requirement.
TOO_WEAK = {"admin": "rater", "rater": "viewer", "unblinded": "rater"}


def _walk(routes: list[Any], prefix: str = "") -> list[tuple[str, str]]:
    """(method, full path) of every route, through included routers (FastAPI keeps them nested)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found += [(m, prefix + route.path) for m in sorted(route.methods)]
        elif hasattr(route, "original_router"):
            found += _walk(route.original_router.routes, prefix + route.include_context.prefix)
    return found


def write_routes(app: FastAPI) -> list[tuple[str, str]]:
    return sorted({(m, p) for m, p in _walk(app.routes) if m in WRITES})


def test_every_write_route_is_classified(app: FastAPI) -> None:
    found = set(write_routes(app))
    assert found - set(REQUIRED) == set(), "classify new write routes in REQUIRED"
    assert set(REQUIRED) - found == set(), "REQUIRED lists routes that no longer exist"


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


@pytest.fixture
async def people(state: AppState) -> dict[str, dict[str, str]]:
    return {role: await make_user(state, f"the-{role}", role) for role in ("viewer", "rater")}


async def test_api_writes_refuse_the_role_below(
    app: FastAPI, client: httpx.AsyncClient, people: dict[str, dict[str, str]]
) -> None:
    checked = 0
    for method, path in write_routes(app):
        if not path.startswith("/api/"):
            continue
        needed = REQUIRED[(method, path)]
        anonymous = await client.request(method, _concrete(path), json={})
        assert anonymous.status_code == 401, (method, path)
        if needed in TOO_WEAK:
            refused = await client.request(method, _concrete(path), json={}, headers=people[TOO_WEAK[needed]])
            assert refused.status_code == 403, (method, path, refused.text)
            assert "role" in refused.json()["detail"] or "blind" in refused.json()["detail"]
            checked += 1
    assert checked >= 20


async def test_page_writes_refuse_the_role_below(app: FastAPI, state: AppState) -> None:
    for role in ("viewer", "rater"):
        await make_user(state, f"page-{role}", role)
    sessions = {}
    for role in ("viewer", "rater"):
        http = browser(app)
        await sign_in(http, f"page-{role}", PASSWORD)
        sessions[role] = http
    try:
        checked = 0
        for method, path in write_routes(app):
            needed = REQUIRED[(method, path)]
            if path.startswith("/api/") or needed not in TOO_WEAK:
                continue
            http = sessions[TOO_WEAK[needed]]
            token = await csrf_of(http)
            refused = await http.request(
                method, _concrete(path), data={"csrf_token": token}, headers={"Accept": "application/json"}
            )
            assert refused.status_code == 403, (method, path, refused.text)
            assert "role" in refused.text, (method, path)
            checked += 1
        assert checked >= 20
    finally:
        for http in sessions.values():
            await http.aclose()


async def test_page_writes_without_sign_in_go_to_the_sign_in_page(
    app: FastAPI, anonymous: httpx.AsyncClient
) -> None:
    token = await csrf_of(anonymous)
    for method, path in write_routes(app):
        if path.startswith("/api/") or REQUIRED[(method, path)] == "public":
            continue
        response = await anonymous.request(method, _concrete(path), data={"csrf_token": token})
        assert response.status_code == 303 and "/login" in response.headers["location"], (method, path)
