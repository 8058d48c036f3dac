"""The leaderboard over REST and in the page, against numbers computed by hand."""

from __future__ import annotations

import math
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update

from app.accounts.service import create_token
from app.models import Rating, ScoreTally, User, utcnow
from app.rating.repository import rebuild
from app.state import AppState
from tests.factories import answering_variants, rate_as
from tests.fakes.fake_openai import FakeOpenAIServer

# (score for A, score for B) per comparison, for two raters
SCORES = {"r1": [(5, 3), (4, 2), (2, 5)], "r2": [(4, 4), (5, 1), (3, 5)]}


# Which variant each rater saw first, per comparison (the blind order is shuffled per rater).
shown_first: dict[str, list[str]] = {name: [] for name in SCORES}


@pytest.fixture
async def rated(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake_llm: FakeOpenAIServer
) -> dict[str, int]:
    ids = await answering_variants(client, auth, fake_llm.base_url, {"A": "alpha", "B": "beta"})
    raters = {}
    for seen in shown_first.values():
        seen.clear()
    async with state.sessions.begin() as session:
        for name in SCORES:
            rater = User(name=name, role="rater")
            session.add(rater)
            await session.flush()
            raters[name] = {"Authorization": f"Bearer {await create_token(session, name, rater)}"}
    for i in range(3):
        comparison = (
            await client.post(
                "/api/v1/comparisons",
                json={"query": f"q{i}", "variant_ids": [ids["A"], ids["B"]]},
                headers=auth,
            )
        ).json()
        for name, scores in SCORES.items():
            score_a, score_b = scores[i]
            # No explicit ranking: it follows the mean scores (equal scores tie).
            rating = await rate_as(client, raters[name], comparison["id"], {"A": score_a, "B": score_b})
            shown_first[name].append(rating["outputs"][0]["variant"])
    return ids


async def test_leaderboard_numbers(
    client: httpx.AsyncClient, auth: dict[str, str], rated: dict[str, int]
) -> None:
    board = (await client.get("/api/v1/leaderboard", headers=auth)).json()
    assert board["ratings"] == 6 and board["raters"] == 2
    names = [s["name"] for s in board["standings"]]
    assert names == ["A", "B"]
    a, b = board["standings"]
    assert set(a["means"]) == {"correctness", "helpfulness", "format"}
    assert a["means"]["correctness"]["mean"] == pytest.approx(23 / 6, abs=1e-4)
    assert b["means"]["format"]["mean"] == pytest.approx(20 / 6, abs=1e-4)
    low, mean, high = (a["means"]["helpfulness"][k] for k in ("lower", "mean", "upper"))
    assert low < mean < high
    # A beat B 3 times, tied once (half a win), lost twice: 3.5 of 6 games
    assert board["win_rate"][0][1] == pytest.approx(3.5 / 6, abs=1e-4)
    assert board["games"][0][1] == 6
    # Bradley-Terry with the 0.5 half-win prior: strengths differ by ln(3.75 / 2.75)
    assert a["strength"] - b["strength"] == pytest.approx(math.log(3.75 / 2.75), abs=1e-3)
    assert a["strength_lower"] <= a["strength"] <= a["strength_upper"]
    assert a["p_best"] + b["p_best"] == pytest.approx(1.0)
    assert a["p_best"] > b["p_best"]
    # Position bias: of the 5 ratings with a single best (r2 tied on q0), how often it was shown first
    unique_best = {("r1", 0): "A", ("r1", 1): "A", ("r1", 2): "B", ("r2", 1): "A", ("r2", 2): "B"}
    first_won = sum(
        unique_best.get((r, i)) == first for r, seen in shown_first.items() for i, first in enumerate(seen)
    )
    assert board["first_shown_wins"] == pytest.approx(first_won / 5)
    assert board["first_shown_expected"] == pytest.approx(0.5)
    alpha = board["agreement"]["correctness"]
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


async def _aggregates(state: AppState) -> tuple[list[Any], list[Any]]:
    async with state.sessions() as session:
        tallies = (
            await session.execute(select(ScoreTally.__table__).order_by("output_id", "dimension"))
        ).all()
        digests = (
            await session.execute(
                select(
                    Rating.id, Rating.variant_ranks, Rating.first_shown_best, Rating.ranked_shown
                ).order_by(Rating.id)
            )
        ).all()
    return [tuple(row) for row in tallies], [tuple(row) for row in digests]


async def test_the_kept_aggregates_equal_a_rebuild_from_the_ratings(
    client: httpx.AsyncClient, auth: dict[str, str], rated: dict[str, int], state: AppState
) -> None:
    """What the write path keeps in step (tallies, digests) is what recomputing from the ratings gives, after
    new ratings and edits; and ratings stored before rankings existed rank by their scores."""
    comparison = (await client.get("/api/v1/comparisons", headers=auth)).json()[0]["id"]
    await rate_as(client, auth, comparison, {"A": 1, "B": 5})
    await rate_as(client, auth, comparison, {"A": 4, "B": 2})  # an edit: the old scores are taken back
    kept = await _aggregates(state)
    assert len(kept[0]) == 2 * 3 * 3 and sum(sum(row[4:]) for row in kept[0]) == 7 * 2 * 3
    before = (await client.get("/api/v1/leaderboard", headers=auth)).json()
    async with state.engine.begin() as connection:
        await connection.execute(delete(ScoreTally))
        await connection.execute(update(Rating).values(variant_ranks="", first_shown_best=None))
        assert await connection.run_sync(rebuild) == 7
    assert await _aggregates(state) == kept
    async with state.engine.begin() as connection:
        await connection.execute(update(Rating).values(ranking={}, updated_at=utcnow()))
        await connection.run_sync(rebuild)
    after = (await client.get("/api/v1/leaderboard", headers=auth)).json()
    assert after["win_rate"] == before["win_rate"] and after["games"] == before["games"]
    assert after["first_shown_wins"] == before["first_shown_wins"]


async def test_the_cached_board_follows_new_and_edited_ratings(
    client: httpx.AsyncClient, auth: dict[str, str], rated: dict[str, int], state: AppState
) -> None:
    first = (await client.get("/api/v1/leaderboard", headers=auth)).json()
    comparison = (await client.get("/api/v1/comparisons", headers=auth)).json()[0]["id"]
    admin = await rate_as(client, auth, comparison, {"A": 1, "B": 5})
    added = (await client.get("/api/v1/leaderboard", headers=auth)).json()
    assert added["ratings"] == first["ratings"] + 1 and added["win_rate"] != first["win_rate"]
    await rate_as(client, auth, comparison, {"A": 5, "B": 1})
    assert (
        admin["id"]
        == (await client.get(f"/api/v1/comparisons/{comparison}/ratings/mine", headers=auth)).json()["id"]
    )
    edited = (await client.get("/api/v1/leaderboard", headers=auth)).json()
    assert edited["ratings"] == added["ratings"] and edited["win_rate"] != added["win_rate"]
