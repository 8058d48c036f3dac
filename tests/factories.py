"""Test data through the REST API, the way a client would create it."""

from __future__ import annotations

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
