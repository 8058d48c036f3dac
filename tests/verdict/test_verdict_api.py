"""The verdict and the paired comparison over a real experiment (fake models on loopback, a fake judge that
prefers the answer stating the fact), through the API and the pages, and what a blind rater may see."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.factories import create_endpoint, create_variant, experiment_finished, make_user
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer

ITEMS = [{"query": f"How many days for case {i}?", "reference": "Answer: 22 days."} for i in range(6)]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAIServer]:
    models = {
        "good": FakeModel(reply="You get 22 days."),
        "bad": FakeModel(reply="It depends on many things."),
        "judge": FakeModel(judge_prefers="22"),
    }
    with FakeOpenAIServer(models) as server:
        yield server


async def _experiment(client: httpx.AsyncClient, auth: dict[str, str], fake: FakeOpenAIServer) -> dict[str, Any]:
    ids = {}
    for model in ("good", "bad", "judge"):
        endpoint = await create_endpoint(client, auth, name=f"ep-{model}", base_url=fake.base_url, model=model)
        ids[model] = endpoint["id"]
    variants = [(await create_variant(client, auth, ids[m], name=m))["id"] for m in ("good", "bad")]
    dataset = (await client.post("/api/v1/datasets", json={"name": "facts", "items": ITEMS}, headers=auth)).json()
    body = {"dataset_id": dataset["id"], "variant_ids": variants, "judge_endpoint_id": ids["judge"]}
    started = (await client.post("/api/v1/experiments", json=body, headers=auth)).json()
    experiment = await experiment_finished(client, auth, started["id"])
    assert experiment["status"] == "succeeded", experiment
    return dict(experiment)


async def test_verdict_and_paired_comparison(client: httpx.AsyncClient, auth: dict[str, str], fake: FakeOpenAIServer, state: Any) -> None:
    experiment = await _experiment(client, auth, fake)
    assert experiment["progress"]["judged"] == experiment["progress"]["judge_total"] == 6
    verdict = (await client.get(f"/api/v1/experiments/{experiment['id']}/verdict", headers=auth)).json()
    by_name = {v["variant"]["name"]: v for v in verdict["variants"]}
    assert by_name["good"]["metrics"]["key_facts"]["mean"] == 1.0
    assert by_name["bad"]["metrics"]["key_facts"]["mean"] == 0.0
    assert by_name["good"]["judge_win_rate"]["mean"] == 1.0 and by_name["bad"]["judge_win_rate"]["mean"] == 0.0
    assert verdict["agreement"]["judged_pairs"] == 6 and verdict["agreement"]["inconsistency_rate"] == 0.0
    assert verdict["recommendation"] and "good" in verdict["recommendation"][0]

    good, bad = by_name["good"]["variant"]["variant_id"], by_name["bad"]["variant"]["variant_id"]
    paired = (await client.get(f"/api/v1/experiments/{experiment['id']}/compare?a={good}&b={bad}", headers=auth)).json()
    signals = {s["signal"]: s for s in paired["signals"]}
    facts = signals["key_facts"]["result"]
    # 6 wins, no ties or losses: two-sided sign test p = 2 * 0.5^6 = 0.03125
    assert (facts["wins"], facts["ties"], facts["losses"], facts["p_value"]) == (6, 0, 0, 0.03125)
    assert signals["judge"]["result"]["wins"] == 6
    assert len(signals["key_facts"]["a_better"]) == 6 and signals["key_facts"]["b_better"] == []
    flip = signals["key_facts"]["a_better"][0]
    assert (await client.get(f"/api/v1/comparisons/{flip['comparison_id']}", headers=auth)).json()["experiment_id"] == experiment["id"]

    assert (await client.get(f"/api/v1/experiments/{experiment['id']}/compare?a={good}&b=999999", headers=auth)).status_code == 422
    assert (await client.get("/api/v1/experiments/999999/verdict", headers=auth)).status_code == 404

    page = await client.get(f"/experiments/{experiment['id']}/verdict")
    assert page.status_code == 200 and "good" in page.text and "Can the judge be trusted?" in page.text
    paired_page = await client.get(f"/experiments/{experiment['id']}/compare?a={good}&b={bad}")
    assert paired_page.status_code == 200 and f"/comparisons/{flip['comparison_id']}" in paired_page.text

    # A rater rates blind: their verdict counts only the comparisons they have rated (none yet).
    rater = await make_user(state, "rita", "rater")
    blind = (await client.get(f"/api/v1/experiments/{experiment['id']}/verdict", headers=rater)).json()
    assert all(v["outputs"] == 0 for v in blind["variants"])
