"""Endpoints, variants and example sets over REST: create, list, show, edit, archive."""

from __future__ import annotations

import httpx

from tests.factories import create_endpoint, create_variant


async def test_endpoint_key_is_encrypted_and_never_returned(
    client: httpx.AsyncClient,
    auth: dict[str, str],
    state,  # type: ignore[no-untyped-def]
) -> None:
    from sqlalchemy import select

    from app.models import Endpoint

    secret = "sk-live-very-secret-123"
    created = await create_endpoint(client, auth, name="openai", api_key=secret, price_prompt_per_m=0.15)
    assert created["has_key"] is True
    assert secret not in str(created)
    listed = await client.get("/api/v1/endpoints", headers=auth)
    shown = await client.get(f"/api/v1/endpoints/{created['id']}", headers=auth)
    assert secret not in listed.text and secret not in shown.text
    async with state.sessions() as session:
        stored = (await session.scalars(select(Endpoint.api_key_encrypted))).one()
    assert stored is not None and secret not in stored
    assert state.cipher.decrypt(stored) == secret

    kept = await client.patch(
        f"/api/v1/endpoints/{created['id']}", json={"model": "gpt-4o-mini"}, headers=auth
    )
    assert kept.json()["has_key"] is True and kept.json()["model"] == "gpt-4o-mini"
    removed = await client.patch(f"/api/v1/endpoints/{created['id']}", json={"api_key": ""}, headers=auth)
    assert removed.json()["has_key"] is False


async def test_endpoint_urls_are_ssrf_checked(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    for url in (
        "file:///etc/passwd",
        "http://169.254.169.254/latest",
        "http://user:pw@127.0.0.1/v1",
        "gopher://x",
    ):
        response = await client.post(
            "/api/v1/endpoints", json={"name": "bad", "base_url": url, "model": "m"}, headers=auth
        )
        assert response.status_code == 422, url
        assert "base_url" in response.text
    assert (await client.get("/api/v1/endpoints", headers=auth)).json() == []


async def test_duplicate_names_conflict(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    await create_endpoint(client, auth, name="one")
    again = await client.post(
        "/api/v1/endpoints",
        json={"name": "one", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        headers=auth,
    )
    assert again.status_code == 409


async def test_variant_edit_is_in_place_until_used_then_versions(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, auth)
    variant = await create_variant(client, auth, endpoint["id"], name="tuned", temperature=0.2)
    assert variant["version"] == 1
    first_hash = variant["config_hash"]

    edited = (
        await client.patch(f"/api/v1/variants/{variant['id']}", json={"temperature": 0.7}, headers=auth)
    ).json()
    assert edited["version"] == 1  # nothing points at v1 yet: edited in place
    assert edited["config"]["temperature"] == 0.7
    assert edited["config_hash"] != first_hash

    comparison = (await client.post("/api/v1/comparisons", json={"query": "hi"}, headers=auth)).json()
    assert comparison["outputs"][0]["variant"]["version"] == 1

    renamed = (
        await client.patch(f"/api/v1/variants/{variant['id']}", json={"name": "tuned-2"}, headers=auth)
    ).json()
    assert renamed["version"] == 1  # a rename is not a new recipe

    bumped = (
        await client.patch(f"/api/v1/variants/{variant['id']}", json={"max_tokens": 64}, headers=auth)
    ).json()
    assert bumped["version"] == 2
    assert bumped["config"]["max_tokens"] == 64
    stored = (await client.get(f"/api/v1/comparisons/{comparison['id']}", headers=auth)).json()
    assert stored["outputs"][0]["variant"]["version"] == 1  # the old output still points at v1

    same = (
        await client.patch(f"/api/v1/variants/{variant['id']}", json={"max_tokens": 64}, headers=auth)
    ).json()
    assert same["version"] == 2 and same["config_hash"] == bumped["config_hash"]


async def test_variant_validation(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    endpoint = await create_endpoint(client, auth)
    cases = [
        ({"name": "r", "strategy": "rag", "endpoint_id": endpoint["id"]}, "knowledge_base_id"),
        (
            {"name": "f", "strategy": "few_shot", "endpoint_id": endpoint["id"], "few_shot_k": 3},
            "example_set_id",
        ),
        ({"name": "e", "strategy": "fine_tuned", "endpoint_id": 4242}, "endpoint_id"),
        ({"name": "s", "strategy": "telepathy", "endpoint_id": endpoint["id"]}, "strategy"),
        (
            {"name": "t", "strategy": "fine_tuned", "endpoint_id": endpoint["id"], "temperature": 9},
            "temperature",
        ),
    ]
    for body, fragment in cases:
        response = await client.post("/api/v1/variants", json=body, headers=auth)
        assert response.status_code == 422, body
        assert fragment in response.text
    assert (await client.get("/api/v1/variants", headers=auth)).json() == []


async def test_archived_variants_leave_the_default_set(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, auth)
    keep = await create_variant(client, auth, endpoint["id"], name="keep")
    drop = await create_variant(client, auth, endpoint["id"], name="drop")
    archived = await client.delete(f"/api/v1/variants/{drop['id']}", headers=auth)
    assert archived.status_code == 200 and archived.json()["archived_at"] is not None
    listed = [v["id"] for v in (await client.get("/api/v1/variants", headers=auth)).json()]
    assert listed == [keep["id"]]
    comparison = (await client.post("/api/v1/comparisons", json={"query": "hi"}, headers=auth)).json()
    assert [o["variant"]["id"] for o in comparison["outputs"]] == [keep["id"]]
    explicit = await client.post(
        "/api/v1/comparisons", json={"query": "hi", "variant_ids": [drop["id"]]}, headers=auth
    )
    assert explicit.status_code == 422 and "archived" in explicit.json()["detail"]


async def test_example_set_crud(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    body = {"name": "house", "examples": [{"input": "q1", "output": "a1"}, {"input": "q2", "output": "a2"}]}
    created = await client.post("/api/v1/example-sets", json=body, headers=auth)
    assert created.status_code == 201
    set_id = created.json()["id"]
    assert created.json()["example_count"] == 2
    replaced = await client.patch(
        f"/api/v1/example-sets/{set_id}", json={"examples": [{"input": "q3", "output": "a3"}]}, headers=auth
    )
    assert [e["input"] for e in replaced.json()["examples"]] == ["q3"]
    bad = await client.post(
        "/api/v1/example-sets", json={"name": "bad", "examples": [{"input": "", "output": "a"}]}, headers=auth
    )
    assert bad.status_code == 422
    await client.delete(f"/api/v1/example-sets/{set_id}", headers=auth)
    assert (await client.get("/api/v1/example-sets", headers=auth)).json() == []
    listed = (await client.get("/api/v1/example-sets?include_archived=true", headers=auth)).json()
    assert [s["id"] for s in listed] == [set_id]


async def test_a_rag_variants_context_template_is_checked_and_versioned(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    endpoint = await create_endpoint(client, auth)
    kb = (await client.post("/api/v1/knowledge-bases", json={"name": "kb-t"}, headers=auth)).json()
    body = {"name": "rag-t", "strategy": "rag", "endpoint_id": endpoint["id"], "knowledge_base_id": kb["id"], "top_k": 2}
    bad = await client.post("/api/v1/variants", json=body | {"context_template": "{% for c in contexts %}"}, headers=auth)
    assert bad.status_code == 422 and "context_template" in bad.json()["detail"]
    plain = (await client.post("/api/v1/variants", json=body, headers=auth)).json()
    templated = await client.patch(
        f"/api/v1/variants/{plain['id']}", json={"context_template": "{{ query }}"}, headers=auth
    )
    assert templated.status_code == 200
    assert templated.json()["config"]["context_template"] == "{{ query }}"
    assert templated.json()["config_hash"] != plain["config_hash"]
