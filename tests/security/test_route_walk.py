"""The blind rule over the whole route table: every GET route the app has, API and pages (with and without
HTMX), called as a rater who has rated nothing, after canaries were planted in comparisons that rater has not
rated — another rater's corrected answer and comment, and answer texts unique to one variant. No canary may
appear anywhere, and no response may tie one of those answers to the variant that wrote it.

The routes come from the app itself, not from a list: a new GET route is walked as soon as it exists, and a
route whose path or query parameter this test cannot fill fails until the parameter is named below."""

from __future__ import annotations

import asyncio
import html
import typing
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import select, update

from app.models import Comparison, Dataset, Endpoint, ExampleSet, FineTuneJob, Output, TrainingSet, Variant
from app.state import AppState
from tests.conftest import sign_in
from tests.factories import PASSWORD, answering_variants, experiment_finished, make_user, rate_as
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer
from tests.routes import every_route

CORRECTION = "Canary-correction-7f3a nineteen days for everyone"
COMMENT = "Canary-comment-9b2e the second answer rambles"
ANSWERS = {"Zephyr prompt": "Zephyr-canary-answer q1w2 says 22 days", "Quokka retrieval": "Quokka-canary-answer e3r4 says 20 days"}
MODELS = {"Zephyr prompt": "zephyr-model", "Quokka retrieval": "quokka-model"}
ITEMS = [
    {"query": "How many vacation days?", "reference": "22 days"},
    {"query": "Who signs expenses?", "reference": "The team lead"},
]


@pytest.fixture(scope="module")
def canary_llm() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer({MODELS[name]: FakeModel(reply=text) for name, text in ANSWERS.items()}) as server:
        yield server


@pytest.fixture
async def planted(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, canary_llm: FakeOpenAIServer
) -> dict[str, Any]:
    """An experiment and a standalone comparison rated by omar (corrections, comments, rankings), a training
    set from those ratings, a fine-tune job whose evaluation is that experiment, and a review queue. Rita, a
    rater, has rated nothing."""
    await answering_variants(client, auth, canary_llm.base_url, MODELS)
    dataset = await client.post("/api/v1/datasets", json={"name": "canary-set", "items": ITEMS}, headers=auth)
    assert dataset.status_code == 201, dataset.text
    experiment = await client.post(
        "/api/v1/experiments", json={"dataset_id": dataset.json()["id"], "repeats": 1}, headers=auth
    )
    assert experiment.status_code == 202, experiment.text
    experiment_id = experiment.json()["id"]
    assert (await experiment_finished(client, auth, experiment_id))["status"] == "succeeded"
    standalone = await client.post(
        "/api/v1/comparisons", json={"query": "Is Friday a holiday?", "tags": ["canary-tag"]}, headers=auth
    )
    assert standalone.status_code == 201, standalone.text
    omar = await make_user(state, "omar", "rater")
    async with state.sessions() as session:
        comparison_ids = list((await session.scalars(select(Comparison.id).order_by(Comparison.id))).all())
    for comparison_id in comparison_ids:
        await rate_as(
            client, omar, comparison_id, {"Zephyr prompt": 5, "Quokka retrieval": 2},
            ranking={"Zephyr prompt": 1, "Quokka retrieval": 2}, comment=COMMENT, corrected_answer=CORRECTION,
        )
    training_set = await client.post(
        "/api/v1/training-sets",
        json={"name": "canary-training", "include_corrections": True, "include_top_rated": True, "min_score": 4,
              "validation_fraction": 0.5},
        headers=auth,
    )
    assert training_set.status_code == 201, training_set.text
    # A hosted job on an address nothing listens on: it fails at once, but its evaluation dataset (made from
    # the validation split, i.e. from corrections) exists. It is then made to look finished, evaluated by
    # the rated experiment, as a published job's page would show it.
    dead = await client.post(
        "/api/v1/endpoints",
        json={"name": "dead-host", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"},
        headers=auth,
    )
    job = await client.post(
        "/api/v1/finetune/jobs",
        json={"training_set_id": training_set.json()["id"], "backend": "openai", "endpoint_id": dead.json()["id"]},
        headers=auth,
    )
    assert job.status_code == 202, job.text
    for _ in range(100):
        if (await client.get(f"/api/v1/finetune/jobs/{job.json()['id']}", headers=auth)).json()["status"] != "queued":
            break
        await asyncio.sleep(0.05)
    async with state.sessions.begin() as session:
        # The evaluated experiment compares a fine-tune (Zephyr's endpoint) with its base, as a job's does.
        await session.execute(update(Endpoint).where(Endpoint.model == MODELS["Zephyr prompt"]).values(is_fine_tuned=True))
        await session.execute(
            update(FineTuneJob)
            .where(FineTuneJob.id == job.json()["id"])
            .values(status="succeeded", error=None, result_model="canary-ft", evaluation_experiment_id=experiment_id)
        )
    queue = await client.post(
        "/api/v1/queues", json={"name": "canary-queue", "raters_per_item": 2, "experiment_id": experiment_id}, headers=auth
    )
    assert queue.status_code == 201, queue.text
    return {
        "rita": await make_user(state, "rita", "rater"),
        "omar": omar,
        "experiment_id": experiment_id,
        "job_id": job.json()["id"],
    }


async def _ids(state: AppState) -> dict[str, list[Any]]:
    """Every planted row's id, by the path or query parameter name that takes it."""
    async with state.sessions() as session:
        async def ids(column: Any) -> list[int]:
            return list((await session.scalars(select(column).order_by(column))).all())

        comparisons, outputs = await ids(Comparison.id), await ids(Output.id)
        variants = await ids(Variant.id)
        values: dict[str, list[Any]] = {
            "comparison_id": comparisons,
            "output_id": outputs,
            "experiment_id": sorted({e for e in await ids(Comparison.experiment_id) if e is not None}),
            "dataset_id": await ids(Dataset.id),
            "training_set_id": await ids(TrainingSet.id),
            "job_id": await ids(FineTuneJob.id),
            "variant_id": variants,
            "endpoint_id": await ids(Endpoint.id),
            "set_id": await ids(ExampleSet.id),
            "queue_id": [1],
            "session_id": [1],
            "a": variants[:1],
            "b": variants[1:2],
            "rank": [1],
        }
    return values


# Parameters that name no planted row: a value that exercises the route is enough.
OTHER_VALUES: dict[str, list[Any]] = {
    "kb_id": [1], "document_id": [1], "user_id": [1], "token_id": [1], "invite": ["nope"],
    "version": [1], "split": ["train", "validation"], "format": None,
}


def _choices(annotation: Any) -> list[Any] | None:
    """The values of a Literal (possibly optional) annotation, else None."""
    if typing.get_origin(annotation) is typing.Literal:
        return list(typing.get_args(annotation))
    for arg in typing.get_args(annotation):
        if (found := _choices(arg)) is not None:
            return found
    return None


def _params(dependant: Dependant) -> tuple[list[Any], list[Any]]:
    """The path and query parameters of a route and of every dependency it has."""
    path, query = list(dependant.path_params), list(dependant.query_params)
    for sub in dependant.dependencies:
        sub_path, sub_query = _params(sub)
        path += sub_path
        query += sub_query
    return list({p.name: p for p in path}.values()), list({q.name: q for q in query}.values())


def _calls(app: FastAPI, ids: dict[str, list[Any]]) -> list[tuple[APIRoute, str, dict[str, Any]]]:
    """(route, url, query) for every GET route and every planted value of its parameters."""
    calls = []
    for route, full_path in every_route(app.routes):
        if "GET" not in route.methods:
            continue
        path_params, query_params = _params(route.dependant)
        paths: list[dict[str, Any]] = [{}]
        for param in path_params:
            values = _choices(param.field_info.annotation) or ids.get(param.name) or OTHER_VALUES.get(param.name)
            if not values and param.name in ids:
                values = [1]  # nothing planted of that kind: a missing row is walked too
            assert values, f"{full_path}: name the path parameter {param.name!r} in this test"
            paths = [p | {param.name: v} for p in paths for v in values]
        query: dict[str, Any] = {}
        for param in query_params:
            if param.name in ids and param.field_info.is_required():
                query[param.name] = ids[param.name][0]
            elif param.field_info.is_required():
                choices = _choices(param.field_info.annotation)
                assert choices, f"{full_path}: name the required query parameter {param.name!r} in this test"
                query[param.name] = choices[0]
        for path_values in paths:
            calls.append((route, full_path.format(**path_values), query))
            for name in ("split", "format"):
                for choice in _choices(next((p.field_info.annotation for p in query_params if p.name == name), None)) or []:
                    calls.append((route, full_path.format(**path_values), query | {name: choice}))
    return calls


def _leaks(text: str) -> list[str]:
    """Canaries in a response: the correction, the comment, or an answer next to the variant behind it."""
    found = [canary for canary in (CORRECTION, COMMENT) if canary in text]
    for name, answer in ANSWERS.items():
        if answer in text and any(tie in text for tie in (name, MODELS[name], '"variant"', '"variant_id"')):
            found.append(f"{answer!r} tied to {name!r}")
    return found


async def test_no_get_route_leaks_what_a_rater_has_not_rated(
    app: FastAPI, planted: dict[str, Any], state: AppState
) -> None:
    calls = _calls(app, await _ids(state))
    assert len(calls) > 100  # the table was walked, not a handful of routes
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    leaks: list[str] = []
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as page_client:
        await sign_in(page_client, "rita", PASSWORD)
        for _route, url, query in calls:
            api = url.startswith("/api/")
            variants = [{}] if api else [{}, {"HX-Request": "true"}]
            for extra in variants:
                headers = (planted["rita"] if api else {}) | extra
                response = await page_client.get(url, params=query, headers=headers)
                assert response.status_code < 500, (url, response.status_code, response.text[:300])
                if found := _leaks(response.text):
                    leaks.append(f"{url}?{query} {extra}: {found}")
    assert not leaks, "\n".join(leaks)


async def test_the_walk_sees_the_canaries_an_admin_may_read(
    app: FastAPI, planted: dict[str, Any], state: AppState, client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    """The walk above would pass if nothing were planted: an admin walking the same routes finds each canary."""
    seen: set[str] = set()
    for _route, url, query in _calls(app, await _ids(state)):
        response = await client.get(url, params=query, headers=auth if url.startswith("/api/") else {})
        seen.update(_leaks(response.text))
    assert {CORRECTION, COMMENT} <= seen
    assert any("tied to" in found for found in seen)


async def test_a_fine_tune_page_tells_a_rater_only_the_verdict_they_may_read(
    app: FastAPI, planted: dict[str, Any], state: AppState, client: httpx.AsyncClient
) -> None:
    """The job page reads its evaluation's verdict as the API does: scoped to the reader."""
    experiment_id, job_id = planted["experiment_id"], planted["job_id"]
    sentences = {}
    for who in ("omar", "rita"):
        verdict = await client.get(f"/api/v1/experiments/{experiment_id}/verdict", headers=planted[who])
        assert verdict.status_code == 200, verdict.text
        sentences[who] = [html.escape(s, quote=True) for s in verdict.json()["recommendation"]]
    only_omar = [s for s in sentences["omar"] if s not in sentences["rita"]]
    assert only_omar  # omar's ratings say something rita's (none) cannot
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 5000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000") as rita:
        await sign_in(rita, "rita", PASSWORD)
        page = (await rita.get(f"/finetune/jobs/{job_id}")).text
    assert all(s not in page for s in only_omar), only_omar
    assert all(s in page for s in sentences["rita"])
