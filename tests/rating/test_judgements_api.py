"""Relevance marks on retrieved chunks over REST, and the retrieval metrics they produce."""

from __future__ import annotations

import httpx

from app.catalog.service import VariantService, current_version
from app.models import Comparison, Output
from app.state import AppState
from tests.factories import create_endpoint


async def rag_output(client: httpx.AsyncClient, auth: dict[str, str], state: AppState, contexts: int) -> int:
    kb = await state.knowledge.create(f"kb-{contexts}")
    endpoint = await create_endpoint(client, auth, name=f"e-{contexts}")
    variant = (
        await client.post(
            "/api/v1/variants",
            json={
                "name": f"rag-{contexts}",
                "strategy": "rag",
                "endpoint_id": endpoint["id"],
                "knowledge_base_id": kb.id,
                "top_k": 3,
            },
            headers=auth,
        )
    ).json()
    async with state.sessions.begin() as session:
        version = current_version(await VariantService(session).get(variant["id"]))
        comparison = Comparison(query="q", created_by="t")
        output = Output(
            variant_version_id=version.id,
            status="done",
            text="a [1]",
            contexts=[{"source": f"s{i}", "text": f"t{i}", "score": 0.9 - i / 10} for i in range(contexts)],
        )
        comparison.outputs.append(output)
        session.add(comparison)
    return output.id


async def test_marks_feed_precision_and_mrr(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    output_id = await rag_output(client, auth, state, contexts=3)
    for rank, relevant in ((1, False), (2, True), (3, False)):
        response = await client.put(
            f"/api/v1/outputs/{output_id}/contexts/{rank}/judgement",
            json={"relevant": relevant},
            headers=auth,
        )
        assert response.status_code == 204
    # changing one's mind replaces the mark
    await client.put(
        f"/api/v1/outputs/{output_id}/contexts/3/judgement", json={"relevant": True}, headers=auth
    )
    [metrics] = (await client.get("/api/v1/retrieval-metrics", headers=auth)).json()
    assert metrics["variant_name"] == "rag-3" and metrics["outputs_judged"] == 1 and metrics["k"] == 3
    assert metrics["precision_at_k"] == round(2 / 3, 4)
    assert metrics["mrr"] == 0.5


async def test_bad_judgements(client: httpx.AsyncClient, auth: dict[str, str], state: AppState) -> None:
    output_id = await rag_output(client, auth, state, contexts=2)
    url = f"/api/v1/outputs/{output_id}/contexts"
    assert (await client.put(f"{url}/3/judgement", json={"relevant": True}, headers=auth)).status_code == 422
    assert (await client.put(f"{url}/0/judgement", json={"relevant": True}, headers=auth)).status_code == 422
    assert (
        await client.put(f"{url}/1/judgement", json={"relevant": "maybe"}, headers=auth)
    ).status_code == 422
    assert (
        await client.put("/api/v1/outputs/99999/contexts/1/judgement", json={"relevant": True}, headers=auth)
    ).status_code == 404
    assert (await client.put(f"{url}/1/judgement", json={"relevant": True})).status_code == 401
    assert (await client.get("/api/v1/retrieval-metrics", headers=auth)).json() == []
