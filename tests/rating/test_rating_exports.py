"""Exports: ratings as CSV and JSONL, DPO preference pairs, chat fine-tuning data; filters and access."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

from app.state import AppState
from tests.factories import answering_variants, make_user, rate_as
from tests.fakes.fake_openai import FakeOpenAIServer

NAMES = {"Prompted": "alpha", "Retrieved": "beta", "Tuned": "gamma"}
TEXT = {
    "Prompted": "Alpha: new employees get 22 vacation days.",
    "Retrieved": "Beta: 20 days, plus public holidays.",
    "Tuned": "Gamma: it depends on the contract.",
}


def _lines(response: httpx.Response) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in response.text.splitlines()]


@pytest.fixture
async def rated(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake_llm: FakeOpenAIServer
) -> dict[str, object]:
    await answering_variants(client, auth, fake_llm.base_url, NAMES)
    ids = []
    for query, dataset in (("How many vacation days?", "hr"), ("Who signs expenses?", "finance")):
        body = {"query": query, "dataset": dataset, "tags": ["week-1"]}
        ids.append((await client.post("/api/v1/comparisons", json=body, headers=auth)).json()["id"])
    rita = await make_user(state, "rita", "rater")
    omar = await make_user(state, "omar", "rater")
    # hr: Prompted best, the other two tied; rita also writes a correction and a formula-looking comment.
    await rate_as(
        client, rita, ids[0], {"Prompted": 5, "Retrieved": 3, "Tuned": 2},
        ranking={"Prompted": 1, "Retrieved": 2, "Tuned": 2},
        comment="=HYPERLINK(\"http://evil\")", corrected_answer="22 days a year, from day one.",
    )  # fmt: skip
    await rate_as(client, omar, ids[0], {"Prompted": 4, "Retrieved": 4, "Tuned": 1})
    # finance: Retrieved best by both, scored 5 and 4 (mean 4.5), no correction.
    await rate_as(client, rita, ids[1], {"Prompted": 2, "Retrieved": 5, "Tuned": 3})
    await rate_as(client, omar, ids[1], {"Prompted": 3, "Retrieved": 4, "Tuned": 1})
    return {"ids": ids, "rater": rita, "viewer": await make_user(state, "vera", "viewer")}


async def test_ratings_csv_has_a_row_per_rated_output_and_defuses_formulas(
    client: httpx.AsyncClient, rated: dict[str, object]
) -> None:
    response = await client.get("/api/v1/exports/ratings.csv", headers=rated["viewer"])  # type: ignore[arg-type]
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert 'filename="triptych-ratings.csv"' in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 4 * 3
    assert {"score_correctness", "score_helpfulness", "score_format", "shown_position", "label"} <= set(
        rows[0]
    )
    first = [r for r in rows if r["rater"] == "rita" and r["comparison_id"] == str(rated["ids"][0])]  # type: ignore[index]
    assert [r["label"] for r in first] == ["A", "B", "C"] and [r["shown_position"] for r in first] == [
        "1",
        "2",
        "3",
    ]
    assert {r["variant"]: r["rank"] for r in first} == {"Prompted": "1", "Retrieved": "2", "Tuned": "2"}
    assert all(r["comment"] == '\'=HYPERLINK("http://evil")' for r in first)
    assert all(r["dataset"] == "hr" and r["tags"] == "week-1" for r in first)


async def test_ratings_jsonl_nests_outputs_in_the_order_shown(
    client: httpx.AsyncClient, rated: dict[str, object], auth: dict[str, str]
) -> None:
    ratings = _lines(await client.get("/api/v1/exports/ratings.jsonl", headers=auth))
    assert len(ratings) == 4
    assert all([o["label"] for o in r["outputs"]] == ["A", "B", "C"] for r in ratings)
    first = ratings[0]
    assert first["rater"] == "rita" and first["corrected_answer"] == "22 days a year, from day one."
    assert {o["variant"]: o["text"] for o in first["outputs"]} == TEXT
    assert first["outputs"][0]["scores"].keys() == {"correctness", "helpfulness", "format"}


async def test_dpo_pairs_follow_rankings_ties_and_corrections(
    client: httpx.AsyncClient, rated: dict[str, object], auth: dict[str, str]
) -> None:
    response = await client.get("/api/v1/exports/dpo.jsonl?dataset=hr", headers=auth)
    pairs = _lines(response)
    assert all(set(p) == {"input", "preferred_output", "non_preferred_output"} for p in pairs)
    as_names = {(p["preferred_output"][:5], p["non_preferred_output"][:5]) for p in pairs}
    # rita: Prompted over the tied two (no pair between the tie) + her correction over all three;
    # omar (ranking from scores 4, 4, 1): Prompted and Retrieved tie, both beat Tuned.
    assert len(pairs) == 2 + 3 + 2
    assert ("Alpha", "Beta:") in as_names and ("Beta:", "Gamma") in as_names
    assert ("Beta:", "Alpha") not in as_names
    assert sum(p["preferred_output"] == "22 days a year, from day one." for p in pairs) == 3
    assert all(p["input"] == "How many vacation days?" for p in pairs)


async def test_chat_data_takes_corrections_then_top_rated_answers(
    client: httpx.AsyncClient, rated: dict[str, object], auth: dict[str, str]
) -> None:
    examples = _lines(await client.get("/api/v1/exports/chat.jsonl", headers=auth))
    answers = {e["messages"][0]["content"]: e["messages"][1]["content"] for e in examples}
    assert answers == {
        "How many vacation days?": "22 days a year, from day one.",
        "Who signs expenses?": TEXT["Retrieved"],
    }
    assert all([m["role"] for m in e["messages"]] == ["user", "assistant"] for e in examples)
    strict = _lines(await client.get("/api/v1/exports/chat.jsonl?min_score=4.6", headers=auth))
    assert [e["messages"][0]["content"] for e in strict] == ["How many vacation days?"]  # 4.5 is below 4.6


async def test_filters_and_access(
    client: httpx.AsyncClient, rated: dict[str, object], auth: dict[str, str]
) -> None:
    assert _lines(await client.get("/api/v1/exports/ratings.jsonl?dataset=nope", headers=auth)) == []
    assert len(_lines(await client.get("/api/v1/exports/ratings.jsonl?tag=week-1", headers=auth))) == 4
    assert (
        _lines(await client.get("/api/v1/exports/ratings.jsonl?since=2999-01-01T00:00:00", headers=auth))
        == []
    )
    assert (await client.get("/api/v1/exports/ratings.jsonl?since=soon", headers=auth)).status_code == 422
    assert (await client.get("/api/v1/exports/chat.jsonl?min_score=9", headers=auth)).status_code == 422
    assert (await client.get("/api/v1/exports/everything.zip", headers=auth)).status_code == 422
    assert (await client.get("/api/v1/exports/ratings.csv")).status_code == 401
    refused = await client.get("/api/v1/exports/ratings.csv", headers=rated["rater"])  # type: ignore[arg-type]
    assert refused.status_code == 403 and "blind" in refused.json()["detail"]


async def test_leaderboard_page_links_to_downloads(
    client: httpx.AsyncClient, rated: dict[str, object]
) -> None:
    page = await client.get("/leaderboard?dataset=hr")
    assert "/exports/dpo.jsonl?dataset=hr" in page.text
    download = await client.get("/exports/ratings.csv?dataset=hr")
    assert download.status_code == 200 and download.text.count("\n") == 1 + 6


def test_every_download_the_routes_accept_has_an_export() -> None:
    from typing import get_args

    from app.rating.exports import EXPORTS
    from app.rating.presenters import Kind

    assert set(get_args(Kind)) == set(EXPORTS)
