"""The issue's acceptance path: the real app, the real bundled model, the demo, one question over REST."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from tests.servers import ServerThread, free_port

pytestmark = pytest.mark.model
QUESTION = "How many vacation days do new employees get?"


@pytest.fixture(scope="module")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`make run` in miniature: embedded SQLite + Chroma, demo loaded, bundled model mounted at /local."""
    data_dir: Path = tmp_path_factory.mktemp("e2e") / "data"
    port = free_port()
    settings = Settings(data_dir=data_dir, host="127.0.0.1", port=port, load_demo=True)
    with ServerThread(create_app(settings), port=port, startup_timeout=300) as server:
        token = (data_dir / "api-token").read_text().strip()
        yield server.url, token


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
    page = httpx.get(url + "/", timeout=30)
    assert page.status_code == 200
    assert "Not fine-tuned yet" in page.text
