"""Hosted fine-tuning against a fake OpenAI-compatible fine-tuning API on loopback: success (published as an
endpoint and variants, then evaluated: the constructed regression on the general probes is listed), failure
and cancel."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.evaluation.probes import general_probes
from tests.conftest import browser, sign_in
from tests.factories import create_endpoint, make_user
from tests.fakes.fake_finetuning import FakeFineTuning
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer

FINE_TUNING = FakeFineTuning(steps=3)
# The base answers every probe (its reply holds every reference); the fine-tune has forgotten them all.
KNOWS_EVERYTHING = " ".join(p.reference for p in general_probes())


@pytest.fixture(scope="module")
def hosted() -> Iterator[FakeOpenAIServer]:
    models = {
        "base-model": FakeModel(reply=KNOWS_EVERYTHING),
        "base-fails": FakeModel(reply="x"),
        "base-hangs": FakeModel(reply="x"),
    }
    with FakeOpenAIServer(models, extra_routes=FINE_TUNING.routes()) as server:
        yield server


async def _training_set(client: httpx.AsyncClient, auth: dict[str, str]) -> int:
    examples = [{"input": f"Question {i}?", "output": f"Answer: {i} days."} for i in range(6)]
    made = await client.post("/api/v1/example-sets", json={"name": "hosted", "examples": examples}, headers=auth)
    response = await client.post(
        "/api/v1/training-sets", json={"name": "hosted v1", "example_set_id": made.json()["id"]}, headers=auth
    )
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def _finished(client: httpx.AsyncClient, auth: dict[str, str], path: str, timeout: float = 30) -> dict[str, Any]:
    for _ in range(int(timeout / 0.1)):
        body = (await client.get(path, headers=auth)).json()
        assert "status" in body, body
        if body["status"] in ("succeeded", "failed", "cancelled"):
            return dict(body)
        await asyncio.sleep(0.1)
    raise AssertionError(f"{path} did not finish: {body}")


async def _start(client: httpx.AsyncClient, auth: dict[str, str], state: Any, hosted: FakeOpenAIServer, model: str) -> dict[str, Any]:
    state.finetune.backends.get("openai").poll_s = 0.05
    endpoint = await create_endpoint(client, auth, name=f"hosted-{model}", base_url=hosted.base_url, model=model, api_key="sk-test")
    response = await client.post(
        "/api/v1/finetune/jobs",
        json={"training_set_id": await _training_set(client, auth), "backend": "openai", "endpoint_id": endpoint["id"]},
        headers=auth,
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


async def test_a_hosted_job_becomes_a_variant_and_its_evaluation_lists_what_it_forgot(
    client: httpx.AsyncClient, auth: dict[str, str], state: Any, hosted: FakeOpenAIServer, app: FastAPI
) -> None:
    job = await _start(client, auth, state, hosted, "base-model")
    # The fine-tuned model the fake will name answers nothing useful: every probe regresses.
    for n in range(1, 200):
        hosted.models[f"ft:base-model:triptych:ftjob-{n}"] = FakeModel(reply="I am not sure.")
    done = await _finished(client, auth, f"/api/v1/finetune/jobs/{job['id']}")
    assert done["status"] == "succeeded", done
    assert done["result_model"].startswith("ft:base-model:triptych:")
    assert [p["loss"] for p in done["losses"]] == [2.0, 1.0, 0.667]
    uploaded = next(iter(FINE_TUNING.files.values())).decode()
    assert '"role": "assistant"' in uploaded and "Answer:" in uploaded
    endpoint = (await client.get(f"/api/v1/endpoints/{done['result_endpoint_id']}", headers=auth)).json()
    assert (endpoint["model"], endpoint["is_fine_tuned"], endpoint["has_key"]) == (done["result_model"], True, True)
    # The model and its baseline are variants now; neither is called a base-model stand-in.
    made_for_job = [v for v in (await client.get("/api/v1/variants", headers=auth)).json() if v["name"].startswith(f"Fine-tune #{job['id']}")]
    assert sorted(v["strategy"] for v in made_for_job) == ["few_shot", "fine_tuned"]
    assert all(v["notice"] is None for v in made_for_job)
    # One click more: the hybrid (the fine-tuned model with retrieval) on the same model.
    kb = (await client.post("/api/v1/knowledge-bases", json={"name": "policies"}, headers=auth)).json()
    hybrid = await client.post(f"/api/v1/finetune/jobs/{job['id']}/variants", json={"knowledge_base_id": kb["id"]}, headers=auth)
    assert hybrid.status_code == 201, hybrid.text
    made = (await client.get(f"/api/v1/variants/{hybrid.json()['variant_ids'][0]}", headers=auth)).json()
    assert (made["strategy"], made["endpoint"]["id"]) == ("rag_fine_tuned", done["result_endpoint_id"])
    experiment = await _finished(client, auth, f"/api/v1/experiments/{done['evaluation_experiment_id']}", 60)
    assert experiment["status"] == "succeeded", experiment
    verdict = (await client.get(f"/api/v1/experiments/{experiment['id']}/verdict", headers=auth)).json()
    tuned = next(v for v in verdict["variants"] if v["variant"]["fine_tuned"])
    base = next(v for v in verdict["variants"] if not v["variant"]["fine_tuned"])
    assert base["probes"]["correct"] == len(general_probes())
    assert tuned["probes"]["correct"] == 0
    assert len(tuned["probes"]["lost"]) == len(general_probes())
    # The job page names each forgotten probe, and the home page shows the job.
    async with browser(app) as http:
        await sign_in(http)
        page = await http.get(f"/finetune/jobs/{job['id']}")
        assert page.status_code == 200
        forgotten = page.text.split("Forgotten")[1].split("</ul>")[0]
        assert forgotten.count("<li>") == len(general_probes())
        assert html.escape(general_probes()[0].query) in forgotten
        home = await http.get("/")
        assert f"job #{job['id']}" in home.text and "succeeded" in home.text
        listing = await http.get("/finetune")
        assert "hosted v1" in listing.text and done["result_model"] in listing.text


@pytest.mark.parametrize(("model", "status", "reason"), [("base-fails", "failed", "too few examples"), ("base-hangs", "cancelled", None)])
async def test_a_hosted_job_that_fails_says_why_and_one_cancelled_is_cancelled_upstream(
    client: httpx.AsyncClient, auth: dict[str, str], state: Any, hosted: FakeOpenAIServer, model: str, status: str, reason: str | None
) -> None:
    job = await _start(client, auth, state, hosted, model)
    if status == "cancelled":
        for _ in range(100):
            body = (await client.get(f"/api/v1/finetune/jobs/{job['id']}", headers=auth)).json()
            if body["external_id"]:
                break
            await asyncio.sleep(0.05)
        cancelled = await client.post(f"/api/v1/finetune/jobs/{job['id']}/cancel", headers=auth)
        assert cancelled.status_code == 200, cancelled.text
    done = await _finished(client, auth, f"/api/v1/finetune/jobs/{job['id']}")
    assert done["status"] == status, done
    if reason:
        assert reason in done["error"]
    else:
        for _ in range(100):
            if done["external_id"] in FINE_TUNING.cancelled:
                break
            await asyncio.sleep(0.05)
        assert done["external_id"] in FINE_TUNING.cancelled
        again = await client.post(f"/api/v1/finetune/jobs/{job['id']}/cancel", headers=auth)
        assert again.status_code == 409


SECRET = "sk-test-SECRET-abcdef123456"


def _leaked(text: str) -> bool:
    """The key in any form an upstream echoes it (plain, upper-cased, base64 at any alignment, ...)."""
    from app.providers.redaction import secret_pattern

    return secret_pattern(SECRET).search(text) is not None or "sk-test-secret" in text.lower()


@pytest.mark.parametrize(("model", "status"), [("base-leaks", "failed"), ("base-echoes", "succeeded")])
async def test_what_a_hosted_api_echoes_of_the_key_is_redacted_everywhere(
    client: httpx.AsyncClient, auth: dict[str, str], state: Any, hosted: FakeOpenAIServer, app: FastAPI,
    caplog: pytest.LogCaptureFixture, model: str, status: str,
) -> None:
    """A failure reason, a fine-tuned model's name and job events that quote the key reach no API answer, page,
    row or log line: the gateway redacts every string the fine-tuning API returns."""
    from sqlalchemy import select

    from app.models import Endpoint, FineTuneJob

    state.finetune.backends.get("openai").poll_s = 0.05
    endpoint = await create_endpoint(client, auth, name=f"hosted-{model}", base_url=hosted.base_url, model=model, api_key=SECRET)
    started = await client.post(
        "/api/v1/finetune/jobs",
        json={"training_set_id": await _training_set(client, auth), "backend": "openai", "endpoint_id": endpoint["id"], "evaluate": False},
        headers=auth,
    )
    assert started.status_code == 202, started.text
    path = f"/api/v1/finetune/jobs/{started.json()['id']}"
    done = await _finished(client, auth, path)
    assert done["status"] == status, done
    if status == "failed":
        assert "bad credentials ***" in done["error"]
    else:
        assert done["result_model"] == f"ft:{model}:***"
    viewer = await make_user(state, "vic", "viewer")
    for headers in (auth, viewer):
        answer = await client.get(path, headers=headers)
        assert answer.status_code == 200 and not _leaked(answer.text)
    page = await client.get(f"/finetune/jobs/{started.json()['id']}")
    assert page.status_code == 200 and not _leaked(page.text)
    async with state.sessions() as session:
        job = await session.scalar(select(FineTuneJob).where(FineTuneJob.id == started.json()["id"]))
        stored = f"{job.error} {job.result_model} {job.external_id}"
        models = " ".join((await session.scalars(select(Endpoint.model))).all())
    assert not _leaked(stored) and not _leaked(models)
    assert not _leaked(caplog.text)
