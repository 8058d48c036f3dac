"""No request holds a database connection while it waits on a model: on PostgreSQL, a comparison waiting on a
slow model leaves no connection idle in a transaction."""

from __future__ import annotations

import asyncio

import httpx
import psycopg
import pytest

from tests.factories import create_endpoint, create_variant
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer

IDLE_IN_TRANSACTION = """
SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'
"""


def _libpq(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


def _idle_in_transaction(url: str) -> int:
    with psycopg.connect(_libpq(url)) as conn:
        row = conn.execute(IDLE_IN_TRANSACTION).fetchone()
    return int(row[0]) if row else 0


async def test_a_comparison_waiting_on_a_model_holds_no_transaction_open(
    client: httpx.AsyncClient, auth: dict[str, str], database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("pg_stat_activity is PostgreSQL's")
    with FakeOpenAIServer({"slow": FakeModel(reply="in time", latency_s=3.0)}) as server:
        endpoint = await create_endpoint(client, auth, base_url=server.base_url, model="slow")
        variant = await create_variant(client, auth, endpoint["id"])
        waiting = asyncio.create_task(
            client.post("/api/v1/comparisons", json={"query": "q", "variant_ids": [variant["id"]]}, headers=auth)
        )
        await asyncio.sleep(1.5)
        assert not waiting.done()
        seen = [await asyncio.to_thread(_idle_in_transaction, database_url) for _ in range(3)]
        answer = await waiting
    assert answer.status_code == 201 and answer.json()["outputs"][0]["text"] == "in time"
    assert seen == [0, 0, 0]
