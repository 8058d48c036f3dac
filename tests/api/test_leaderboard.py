"""The leaderboard over REST and in the page, against numbers computed by hand."""

from __future__ import annotations

import math

import httpx
import pytest

from app.services.tokens import create_token
from app.state import AppState
from tests.factories import create_endpoint, create_variant

# (score for A, score for B) per comparison, for two raters
SCORES = {"r1": [(5, 3), (4, 2), (2, 5)], "r2": [(4, 4), (5, 1), (3, 5)]}


@pytest.fixture
async def rated(client: httpx.AsyncClient, auth: dict[str, str], state: AppState) -> dict[str, int]:
    endpoint = await create_endpoint(client, auth)
    a = await create_variant(client, auth, endpoint["id"], name="A")
    b = await create_variant(client, auth, endpoint["id"], name="B")
    raters = {}
    async with state.sessions.begin() as session:
        for name in SCORES:
            raters[name] = {"Authorization": f"Bearer {await create_token(session, name)}"}
    for i in range(3):
        comparison = (
            await client.post(
                "/api/v1/comparisons",
                json={"query": f"q{i}", "variant_ids": [a["id"], b["id"]]},
                headers=auth,
            )
        ).json()
        out_a, out_b = (o["id"] for o in comparison["outputs"])
        for name, scores in SCORES.items():
            score_a, score_b = scores[i]
            response = await client.post(
                f"/api/v1/comparisons/{comparison['id']}/ratings",
                json={
                    "scores": [{"output_id": out_a, "score": score_a}, {"output_id": out_b, "score": score_b}]
                },
                headers=raters[name],
            )
            assert response.status_code == 201
    return {"A": a["id"], "B": b["id"]}


async def test_leaderboard_numbers(
    client: httpx.AsyncClient, auth: dict[str, str], rated: dict[str, int]
) -> None:
    board = (await client.get("/api/v1/leaderboard", headers=auth)).json()
    assert board["ratings"] == 6 and board["raters"] == 2
    names = [s["name"] for s in board["standings"]]
    assert names == ["A", "B"]
    a, b = board["standings"]
    assert a["means"]["overall"]["mean"] == pytest.approx(23 / 6, abs=1e-4)
    assert b["means"]["overall"]["mean"] == pytest.approx(20 / 6, abs=1e-4)
    assert a["means"]["overall"]["lower"] < a["means"]["overall"]["mean"] < a["means"]["overall"]["upper"]
    # A beat B 3 times, tied once (half a win), lost twice: 3.5 of 6 games
    assert board["win_rate"][0][1] == pytest.approx(3.5 / 6, abs=1e-4)
    assert board["games"][0][1] == 6
    # Bradley-Terry with the 0.5 half-win prior: strengths differ by ln(3.75 / 2.75)
    assert a["strength"] - b["strength"] == pytest.approx(math.log(3.75 / 2.75), abs=1e-3)
    assert a["strength_lower"] <= a["strength"] <= a["strength_upper"]
    assert a["p_best"] + b["p_best"] == pytest.approx(1.0)
    assert a["p_best"] > b["p_best"]
    # A was shown first every time and was the unique best in 3 of 6 ratings
    assert board["first_shown_wins"] == pytest.approx(0.5) and board["first_shown_expected"] == pytest.approx(
        0.5
    )
    alpha = board["agreement"]["overall"]
    assert alpha is not None and -1 <= alpha <= 1


async def test_leaderboard_filters_and_empty(
    client: httpx.AsyncClient, auth: dict[str, str], rated: dict[str, int]
) -> None:
    future = (await client.get("/api/v1/leaderboard?since=2999-01-01T00:00:00", headers=auth)).json()
    assert future["ratings"] == 0 and future["standings"] == []
    bad = await client.get("/api/v1/leaderboard?since=yesterday", headers=auth)
    assert bad.status_code == 422
    assert (await client.get("/api/v1/leaderboard")).status_code == 401


async def test_leaderboard_page(client: httpx.AsyncClient, rated: dict[str, int]) -> None:
    full = await client.get("/leaderboard")
    assert full.status_code == 200 and "<html" in full.text
    assert "<svg" in full.text and "58%" in full.text  # an interval chart and A's win rate over B
    fragment = await client.get("/leaderboard?since=2999-01-01", headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text and "No ratings yet" in fragment.text
    assert (await client.get("/leaderboard?since=garbage")).status_code == 422
