"""Test data through the REST API, the way a client would create it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import Any

import httpx


async def create_endpoint(
    client: httpx.AsyncClient, auth: dict[str, str], **overrides: Any
) -> dict[str, Any]:
    body = {"name": "fake", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"} | overrides
    response = await client.post("/api/v1/endpoints", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def create_variant(
    client: httpx.AsyncClient, auth: dict[str, str], endpoint_id: int, **overrides: Any
) -> dict[str, Any]:
    body = {"name": "v", "strategy": "fine_tuned", "endpoint_id": endpoint_id} | overrides
    response = await client.post("/api/v1/variants", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def rate_as(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    comparison_id: int,
    scores: dict[str, int | dict[str, int]],
    ranking: dict[str, int] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Rate by variant name, the way a rater would after learning the labels: the blind view hides which
    label is which variant, so a first rating reveals the labels and a second (an edit) says what we mean.
    A single number scores every rubric dimension alike."""
    blind = await client.get(f"/api/v1/comparisons/{comparison_id}/blind", headers=headers)
    assert blind.status_code == 200, blind.text
    labels = [o["label"] for o in blind.json()["outputs"]]
    rubric = [d["key"] for d in blind.json()["rubric"]]
    placeholder = {label: dict.fromkeys(rubric, 3) for label in labels}
    first = await client.post(
        f"/api/v1/comparisons/{comparison_id}/ratings", json={"scores": placeholder}, headers=headers
    )
    assert first.status_code in (200, 201), first.text  # 200: this rater had rated it already
    label_of = {o["variant"]: o["label"] for o in first.json()["outputs"]}
    body: dict[str, Any] = {
        "scores": {
            label_of[name]: (dict.fromkeys(rubric, given) if isinstance(given, int) else given)
            for name, given in scores.items()
        }
    } | extra
    if ranking is not None:
        body["ranking"] = {label_of[name]: rank for name, rank in ranking.items()}
    response = await client.post(f"/api/v1/comparisons/{comparison_id}/ratings", json=body, headers=headers)
    assert response.status_code == 200, response.text  # an edit of the placeholder
    return dict(response.json())


async def answering_variants(
    client: httpx.AsyncClient, auth: dict[str, str], base_url: str, names: dict[str, str]
) -> dict[str, int]:
    """Variants (name -> fake model) on one endpoint at `base_url`; returns name -> variant id."""
    ids = {}
    for name, model in names.items():
        endpoint = await create_endpoint(client, auth, name=f"ep-{name}", base_url=base_url, model=model)
        ids[name] = (await create_variant(client, auth, endpoint["id"], name=name))["id"]
    return ids


PASSWORD = "correct horse battery staple"


async def make_user(state: Any, name: str, role: str, password: str | None = PASSWORD) -> dict[str, str]:
    """An account with a password and an API token; returns its bearer headers."""
    from app.accounts.service import AccountService, create_token

    async with state.sessions.begin() as session:
        created = await AccountService(session).create(name, role, password)
        token = await create_token(session, f"{name}-token", created.user)
    return {"Authorization": f"Bearer {token}"}


async def while_probing(client: httpx.AsyncClient, work: Awaitable[httpx.Response]) -> tuple[httpx.Response, list[float]]:
    """The response to `work`, and how long each GET /healthz took while it ran (is the app still answering?)."""
    task = asyncio.ensure_future(work)
    latencies: list[float] = []
    while not task.done():
        started = time.perf_counter()
        assert (await client.get("/healthz")).status_code == 200
        latencies.append(time.perf_counter() - started)
        await asyncio.sleep(0.01)
    return await task, latencies


async def experiment_finished(client: httpx.AsyncClient, auth: dict[str, str], experiment_id: int) -> dict[str, Any]:
    """The experiment once it has stopped running (succeeded, failed or cancelled; 30 s at most)."""
    body: dict[str, Any] = {}
    for _ in range(300):
        body = (await client.get(f"/api/v1/experiments/{experiment_id}", headers=auth)).json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return body
        await asyncio.sleep(0.1)
    raise AssertionError(f"experiment {experiment_id} did not finish: {body}")
