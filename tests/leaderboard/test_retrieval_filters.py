"""The leaderboard's retrieval metrics follow its filters and are cached with the board (a new mark shows)."""

from __future__ import annotations

import httpx
from sqlalchemy import select, update

from app.models import Output, Variant, VariantVersion
from app.state import AppState
from tests.factories import answering_variants
from tests.fakes.fake_openai import FakeOpenAIServer

CHUNKS = [{"source": "a.md", "text": "one", "score": 0.9}, {"source": "b.md", "text": "two", "score": 0.5}]


async def test_retrieval_metrics_count_only_the_filtered_comparisons(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake_llm: FakeOpenAIServer
) -> None:
    await answering_variants(client, auth, fake_llm.base_url, {"Retriever": "alpha"})
    async with state.sessions.begin() as session:
        await session.execute(update(Variant).values(strategy="rag"))
        await session.execute(update(VariantVersion).values(top_k=2))
    outputs = {}
    for dataset in ("north", "south"):
        made = await client.post("/api/v1/comparisons", json={"query": f"q {dataset}", "dataset": dataset}, headers=auth)
        outputs[dataset] = made.json()["outputs"][0]["id"]
    async with state.sessions.begin() as session:
        await session.execute(update(Output).values(contexts=CHUNKS))
    # North's answer: the first chunk relevant (MRR 1). South's: only the second (MRR 0.5).
    await client.put(f"/api/v1/outputs/{outputs['north']}/contexts/1/judgement", json={"relevant": True}, headers=auth)
    await client.put(f"/api/v1/outputs/{outputs['south']}/contexts/2/judgement", json={"relevant": True}, headers=auth)

    def retrieval(board: httpx.Response) -> list[tuple[int, float]]:
        return [(m["outputs_judged"], m["mrr"]) for m in board.json()["retrieval"]]

    assert retrieval(await client.get("/api/v1/leaderboard", headers=auth)) == [(2, 0.75)]
    assert retrieval(await client.get("/api/v1/leaderboard?dataset=north", headers=auth)) == [(1, 1.0)]
    assert retrieval(await client.get("/api/v1/leaderboard?dataset=south", headers=auth)) == [(1, 0.5)]
    # Cached with the board, and the cache sees a new mark: south's first chunk now relevant too.
    await client.put(f"/api/v1/outputs/{outputs['south']}/contexts/1/judgement", json={"relevant": True}, headers=auth)
    assert retrieval(await client.get("/api/v1/leaderboard?dataset=south", headers=auth)) == [(1, 1.0)]
    async with state.sessions() as session:
        assert len((await session.scalars(select(Output.id))).all()) == 2
