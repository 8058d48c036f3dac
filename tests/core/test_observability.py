"""What an operator watches: /metrics scraped for every series the README names, readiness, request ids on
responses and log lines."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import httpx
import pytest

from app.core.jobs import current_job
from app.core.observability import JsonLogFormatter, request_id
from app.main import create_app
from tests.conftest import browser, make_settings
from tests.factories import create_endpoint, create_variant, experiment_finished
from tests.fakes.fake_openai import FakeOpenAIServer


def _series(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(name)]


async def test_metrics_carry_requests_model_calls_jobs_and_the_queue(
    client: httpx.AsyncClient, auth: dict[str, str], fake_llm: FakeOpenAIServer
) -> None:
    endpoint = await create_endpoint(client, auth, base_url=fake_llm.base_url, model="alpha")
    variant = await create_variant(client, auth, endpoint["id"])
    asked = await client.post("/api/v1/comparisons", json={"query": "days?", "variant_ids": [variant["id"]]}, headers=auth)
    assert asked.status_code == 201, asked.text
    await client.get(f"/api/v1/comparisons/{asked.json()['id']}", headers=auth)
    dataset = await client.post("/api/v1/datasets", json={"name": "m", "items": [{"query": "q"}]}, headers=auth)
    experiment = await client.post(
        "/api/v1/experiments", json={"dataset_id": dataset.json()["id"], "variant_ids": [variant["id"]]}, headers=auth
    )
    assert (await experiment_finished(client, auth, experiment.json()["id"]))["status"] == "succeeded"

    scraped = await client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    # Request latency by route template (an id in the path would make a series per comparison).
    assert any(
        'route="/api/v1/comparisons/{comparison_id}"' in line and 'status="200"' in line
        for line in _series(text, "triptych_http_request_duration_seconds_count")
    ), _series(text, "triptych_http_request_duration_seconds_count")
    assert not re.search(r'route="/api/v1/comparisons/\d+"', text)
    # Model calls per endpoint: host and model, never the URL's path or credentials.
    port = httpx.URL(fake_llm.base_url).port
    [calls] = [line for line in _series(text, "triptych_model_call_duration_seconds_count") if f"127.0.0.1:{port}/alpha" in line]
    assert float(calls.rsplit(" ", 1)[1]) >= 2  # the comparison and the experiment's item
    assert _series(text, "triptych_model_call_errors_total") or "triptych_model_call_errors_total" in text
    # Jobs by kind and status, the queue's depth and its oldest job's age.
    assert any('kind="experiment"' in line for line in _series(text, "triptych_jobs{"))
    assert _series(text, "triptych_job_queue_depth ")
    assert _series(text, "triptych_job_queue_oldest_age_seconds ")


async def test_metrics_need_an_admin_token_off_loopback(database_url: str, tmp_path: Path, auth: dict[str, str]) -> None:
    app = create_app(make_settings(database_url, tmp_path / "data", host="0.0.0.0"))
    async with app.router.lifespan_context(app), browser(app) as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers=auth)).status_code == 200


async def test_readiness_checks_the_database_and_chroma(client: httpx.AsyncClient) -> None:
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "chroma": "ok"}}


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    first, second = await client.get("/healthz"), await client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", first.headers["x-request-id"])
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert (await client.get("/healthz", headers={"X-Request-ID": "lb-1234"})).headers["x-request-id"] == "lb-1234"
    forged = await client.get("/healthz", headers={"X-Request-ID": "x; injected=1 " + "a" * 70})
    assert re.fullmatch(r"[0-9a-f]{32}", forged.headers["x-request-id"])


@pytest.mark.parametrize(("rid", "job"), [("abc123", None), (None, "experiment:7#41")])
def test_json_log_lines_name_their_request_or_job(rid: str | None, job: str | None) -> None:
    rid_token, job_token = request_id.set(rid), current_job.set(job)
    try:
        record = logging.LogRecord("triptych", logging.WARNING, __file__, 1, "resuming %d job(s)", (2,), None)
        line = json.loads(JsonLogFormatter().format(record))
    finally:
        request_id.reset(rid_token)
        current_job.reset(job_token)
    assert line["message"] == "resuming 2 job(s)" and line["level"] == "warning"
    assert line.get("request_id") == rid and line.get("job") == job
