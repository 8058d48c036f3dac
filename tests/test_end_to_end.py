"""The acceptance path: the real app, the real bundled model, the demo, one question over REST."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import E2E_ADMIN, csrf_in
from tests.factories import PASSWORD

pytestmark = pytest.mark.model
QUESTION = "How many vacation days do new employees get?"


def test_one_question_gets_an_answer_from_every_default_variant(running_app: tuple[str, str]) -> None:
    url, token = running_app
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
        variants = http.get("/api/v1/variants").json()
        assert {v["strategy"] for v in variants} >= {"few_shot", "rag", "fine_tuned", "rag_fine_tuned"}
        response = http.post("/api/v1/comparisons", json={"query": QUESTION})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["query"] == QUESTION
    outputs = {o["variant"]["strategy"]: o for o in body["outputs"]}
    assert set(outputs) == {v["strategy"] for v in variants}
    for strategy, output in outputs.items():
        assert output["error"] is None, f"{strategy}: {output['error']}"
        assert output["text"].strip(), strategy
        assert output["completion_tokens"] > 0 and output["prompt_tokens"] > 0
        assert output["latency_ms"] >= output["ttft_ms"] > 0
        assert output["cost_usd"] == 0.0  # the bundled model is free
    rag = outputs["rag"]
    assert rag["contexts"], "the RAG output must carry its retrieved chunks"
    assert rag["contexts"][0]["source"] == "01-vacation.md"
    assert all(0 < c["score"] <= 1 for c in rag["contexts"])
    assert outputs["few_shot"]["contexts"] == []


def test_the_page_says_the_fine_tuned_variant_is_the_base_model(running_app: tuple[str, str]) -> None:
    url, _token = running_app
    with httpx.Client(base_url=url, timeout=30, follow_redirects=True) as http:
        login = http.get("/login")  # sets the pre-session cookie its token is bound to
        form = {"csrf_token": csrf_in(login.text), "name": E2E_ADMIN, "password": PASSWORD}
        page = http.post("/login", data=form)
    assert page.status_code == 200 and str(page.url) == url + "/"
    assert "Not fine-tuned yet" in page.text


def test_the_demo_ships_its_evaluation_set_as_a_dataset(running_app: tuple[str, str]) -> None:
    url, token = running_app
    datasets = httpx.get(f"{url}/api/v1/datasets", headers={"Authorization": f"Bearer {token}"}).json()
    demo = next(d for d in datasets if d["name"] == "Larkspur evaluation")
    assert (demo["item_count"], demo["format_kind"], demo["probe_tag"]) == (50, "regex", "general")
    items = httpx.get(f"{url}/api/v1/datasets/{demo['id']}", headers={"Authorization": f"Bearer {token}"}).json()["items"]
    assert sum("general" in i["tags"] for i in items) == 20
    assert all(i["expected_source"].endswith(".md") for i in items if "policy" in i["tags"])
