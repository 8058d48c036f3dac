"""Blind rating over REST: neutral labels, per-rater order, nothing identifying before submit, reveal after."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from sqlalchemy import select

from app.models import Comparison, Output, Rating
from app.rating.service import RatingService
from app.state import AppState
from tests.factories import answering_variants, make_user, rate_as
from tests.fakes.fake_openai import FakeOpenAIServer

NAMES = {"Zephyr prompt": "alpha", "Quokka retrieval": "beta", "Narwhal tuned": "gamma"}
STRATEGY_WORDS = re.compile(
    r"\b(few_shot|rag|fine_tuned|rag_fine_tuned|few-shot|fine-tuned)\b", re.IGNORECASE
)


@pytest.fixture
async def setup(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake_llm: FakeOpenAIServer
) -> dict[str, object]:
    ids = await answering_variants(client, auth, fake_llm.base_url, NAMES)
    comparison = await client.post(
        "/api/v1/comparisons", json={"query": "How many vacation days?"}, headers=auth
    )
    assert comparison.status_code == 201
    return {
        "variants": ids,
        "comparison": comparison.json(),
        "rater": await make_user(state, "rita", "rater"),
        "other": await make_user(state, "omar", "rater"),
        "viewer": await make_user(state, "vera", "viewer"),
    }


def _identifying(comparison: dict) -> list[str]:  # type: ignore[type-arg]
    """Every string in the full comparison that would tell a rater which variant wrote an answer."""
    found = []
    for output in comparison["outputs"]:
        found += [output["variant"]["name"], output["model"]]
        found += [c["source"] for c in output["contexts"]]
    return found


async def test_blind_view_hides_every_identifying_field(
    client: httpx.AsyncClient, setup: dict[str, object]
) -> None:
    comparison, rater = setup["comparison"], setup["rater"]
    cid = comparison["id"]  # type: ignore[index]
    blind = await client.get(f"/api/v1/comparisons/{cid}/blind", headers=rater)  # type: ignore[arg-type]
    assert blind.status_code == 200
    body = blind.json()
    assert [o["label"] for o in body["outputs"]] == ["A", "B", "C"]
    assert all(set(o) == {"label", "text"} for o in body["outputs"])
    assert [d["key"] for d in body["rubric"]] == ["correctness", "helpfulness", "format"]
    raw = blind.text
    for secret in _identifying(comparison):  # type: ignore[arg-type]
        assert secret not in raw
    assert not STRATEGY_WORDS.search(raw)
    for output in comparison["outputs"]:  # type: ignore[index]
        assert f'"id":{output["id"]}' not in raw.replace(" ", "")
    # The full comparison is closed to a rater who has not rated it.
    full = await client.get(f"/api/v1/comparisons/{cid}", headers=rater)  # type: ignore[arg-type]
    assert full.status_code == 403 and "blind" in full.json()["detail"]


async def test_rating_reveals_identities_and_stores_the_order_shown(
    client: httpx.AsyncClient, setup: dict[str, object], state: AppState
) -> None:
    cid, rater = setup["comparison"]["id"], setup["rater"]  # type: ignore[index]
    blind = (await client.get(f"/api/v1/comparisons/{cid}/blind", headers=rater)).json()  # type: ignore[arg-type]
    texts = [o["text"] for o in blind["outputs"]]
    body = {
        "scores": {
            "A": {"correctness": 5, "helpfulness": 4, "format": 4},
            "B": dict(correctness=2, helpfulness=2, format=3),
            "C": dict(correctness=2, helpfulness=2, format=3),
        },
        "ranking": {"A": 1, "B": 3, "C": 3},
        "comment": "A cites the policy",
        "corrected_answer": "22 days a year.",
    }
    saved = await client.post(f"/api/v1/comparisons/{cid}/ratings", json=body, headers=rater)  # type: ignore[arg-type]
    assert saved.status_code == 201, saved.text
    reveal = saved.json()
    assert [o["label"] for o in reveal["outputs"]] == ["A", "B", "C"]
    assert {o["variant"] for o in reveal["outputs"]} == set(NAMES)
    # Ties are kept, and ranks are renumbered without gaps.
    assert [o["rank"] for o in reveal["outputs"]] == [1, 2, 2]
    assert reveal["outputs"][0]["scores"] == {"correctness": 5, "helpfulness": 4, "format": 4}
    assert reveal["corrected_answer"] == "22 days a year."
    # The stored order is the order shown: label A is the first output id stored.
    mine = (await client.get(f"/api/v1/comparisons/{cid}/ratings/mine", headers=rater)).json()  # type: ignore[arg-type]
    full = (await client.get(f"/api/v1/comparisons/{cid}", headers=rater)).json()  # type: ignore[arg-type]
    text_of = {o["id"]: o["text"] for o in full["outputs"]}
    assert [text_of[o["output_id"]] for o in mine["outputs"]] == texts
    assert full["ratings"][0]["rater"] == "rita"
    async with state.sessions() as session:
        stored = await session.scalar(select(Rating).where(Rating.comparison_id == cid))
        assert stored is not None and stored.display_order == [o["output_id"] for o in mine["outputs"]]


async def test_each_rater_keeps_their_own_stable_order(state: AppState) -> None:
    comparison = Comparison(
        id=7, query="q", outputs=[Output(id=i, status="done", text=str(i)) for i in range(1, 5)]
    )
    service = RatingService(None, b"fixed-key")  # type: ignore[arg-type]
    orders = {name: service.shown_order(comparison, name, None) for name in ("ann", "bob", "cyd", "dee")}
    assert all(sorted(o) == [1, 2, 3, 4] for o in orders.values())
    assert len({tuple(o) for o in orders.values()}) > 1  # different raters, different orders
    assert service.shown_order(comparison, "ann", None) == orders["ann"]  # stable across reloads
    other_key = RatingService(None, b"another-key")  # type: ignore[arg-type]
    assert [other_key.shown_order(comparison, n, None) for n in orders] != list(orders.values())


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"scores": {"A": {"correctness": 3, "helpfulness": 3, "format": 3}}}, "missing"),
        (
            {"scores": {k: {"correctness": 3, "helpfulness": 3, "format": 3} for k in "ABCD"}},
            "no answer is labelled D",
        ),
        ({"scores": {"A": {"correctness": 6}}}, "less than or equal"),
        ({"scores": {k: {"correctness": 3, "helpfulness": 3} for k in "ABC"}}, "format"),
        (
            {"scores": {k: {"correctness": 3, "helpfulness": 3, "format": 3, "tone": 2} for k in "ABC"}},
            "tone",
        ),
        (
            {
                "scores": {k: {"correctness": 3, "helpfulness": 3, "format": 3} for k in "ABC"},
                "ranking": {"A": 1},
            },
            "ranking",
        ),
        ({"scores": {}, "extra": 1}, ""),
    ],
)
async def test_bad_ratings_are_a_clear_422_and_store_nothing(
    client: httpx.AsyncClient, setup: dict[str, object], body: dict[str, object], message: str
) -> None:
    cid, rater = setup["comparison"]["id"], setup["rater"]  # type: ignore[index]
    response = await client.post(f"/api/v1/comparisons/{cid}/ratings", json=body, headers=rater)  # type: ignore[arg-type]
    assert response.status_code == 422
    assert message in json.dumps(response.json())
    mine = await client.get(f"/api/v1/comparisons/{cid}/ratings/mine", headers=rater)  # type: ignore[arg-type]
    assert mine.status_code == 404


async def test_unknown_comparison_is_404_and_a_rating_is_edited_not_duplicated(
    client: httpx.AsyncClient, setup: dict[str, object], auth: dict[str, str]
) -> None:
    rater = setup["rater"]
    missing = await client.post(
        "/api/v1/comparisons/424242/ratings",
        json={"scores": {"A": {"correctness": 3}}},
        headers=rater,  # type: ignore[arg-type]
    )
    assert missing.status_code == 404
    cid = setup["comparison"]["id"]  # type: ignore[index]
    first = await rate_as(client, rater, cid, dict.fromkeys(NAMES, 3))  # type: ignore[arg-type]
    second = await rate_as(
        client, rater, cid, {"Zephyr prompt": 5, "Quokka retrieval": 1, "Narwhal tuned": 2}
    )  # type: ignore[arg-type]
    assert first["id"] == second["id"] and second["updated_at"] is not None
    stored = (await client.get(f"/api/v1/comparisons/{cid}", headers=auth)).json()
    assert len(stored["ratings"]) == 1
    ranks = {o["variant"]: o["rank"] for o in stored["ratings"][0]["outputs"]}
    assert ranks == {"Zephyr prompt": 1, "Narwhal tuned": 2, "Quokka retrieval": 3}  # derived from the scores


async def test_raters_do_not_see_each_others_ratings_before_submitting(
    client: httpx.AsyncClient, setup: dict[str, object]
) -> None:
    cid = setup["comparison"]["id"]  # type: ignore[index]
    await rate_as(client, setup["rater"], cid, dict.fromkeys(NAMES, 4), comment="rita's secret view")  # type: ignore[arg-type]
    other = setup["other"]
    blind = await client.get(f"/api/v1/comparisons/{cid}/blind", headers=other)  # type: ignore[arg-type]
    assert "rita" not in blind.text and blind.json()["rated"] is False
    assert (await client.get(f"/api/v1/comparisons/{cid}", headers=other)).status_code == 403  # type: ignore[arg-type]
    assert (await client.get("/api/v1/exports/ratings.jsonl", headers=other)).status_code == 403  # type: ignore[arg-type]


async def test_rubric_is_configurable_by_admins_only(
    client: httpx.AsyncClient, setup: dict[str, object], auth: dict[str, str]
) -> None:
    rubric = [
        {"key": "accuracy", "label": "Accuracy"},
        {"key": "tone", "label": "Tone", "description": "Polite?"},
    ]
    refused = await client.put("/api/v1/rubric", json=rubric, headers=setup["rater"])  # type: ignore[arg-type]
    assert refused.status_code == 403
    saved = await client.put("/api/v1/rubric", json=rubric, headers=auth)
    assert saved.status_code == 200 and [d["key"] for d in saved.json()] == ["accuracy", "tone"]
    duplicate = await client.put("/api/v1/rubric", json=rubric + rubric[:1], headers=auth)
    assert duplicate.status_code == 422
    cid = setup["comparison"]["id"]  # type: ignore[index]
    blind = (await client.get(f"/api/v1/comparisons/{cid}/blind", headers=setup["rater"])).json()  # type: ignore[arg-type]
    assert [d["key"] for d in blind["rubric"]] == ["accuracy", "tone"]
    rating = await rate_as(client, setup["rater"], cid, {n: {"accuracy": 4, "tone": 2} for n in NAMES})  # type: ignore[arg-type]
    assert rating["outputs"][0]["scores"] == {"accuracy": 4, "tone": 2}
    board = (await client.get("/api/v1/leaderboard", headers=auth)).json()
    assert set(board["standings"][0]["means"]) == {"accuracy", "tone"}
