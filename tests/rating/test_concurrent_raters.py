"""50 raters submitting 20 ratings each, all at once: nothing is lost, nothing fails (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import case, func, select

from app.accounts.service import create_token
from app.models import Rating, RatingScore, ScoreTally, User
from app.state import AppState
from tests.factories import answering_variants
from tests.fakes.fake_openai import FakeOpenAIServer

RATERS, ITEMS = 50, 20
DIMENSIONS = ("correctness", "helpfulness", "format")


async def test_fifty_raters_at_once_lose_nothing(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState, fake_llm: FakeOpenAIServer
) -> None:
    await answering_variants(client, auth, fake_llm.base_url, {"left": "alpha", "right": "beta"})
    comparisons = []
    for i in range(ITEMS):
        response = await client.post("/api/v1/comparisons", json={"query": f"question {i}"}, headers=auth)
        comparisons.append(response.json()["id"])
    headers = []
    async with state.sessions.begin() as session:
        for r in range(RATERS):
            user = User(name=f"rater-{r:02d}", role="rater")
            session.add(user)
            await session.flush()
            headers.append({"Authorization": f"Bearer {await create_token(session, 'load', user)}"})

    async def rater(r: int, shift: int = 0, items: int = ITEMS) -> list[int]:
        statuses = []
        for i, cid in enumerate(comparisons[:items]):
            score = 1 + (r + i + shift) % 5
            body = {
                "scores": {"A": dict.fromkeys(DIMENSIONS, score), "B": dict.fromkeys(DIMENSIONS, 6 - score)},
                "ranking": {"A": 1, "B": 2} if score >= 3 else {"A": 2, "B": 1},
                "comment": f"r{r} on {cid}",
            }
            response = await client.post(f"/api/v1/comparisons/{cid}/ratings", json=body, headers=headers[r])
            statuses.append(response.status_code)
        return statuses

    results = await asyncio.gather(*(rater(r) for r in range(RATERS)))
    assert [s for statuses in results for s in statuses if s != 201] == []
    async with state.sessions() as session:
        ratings = await session.scalar(select(func.count(Rating.id)))
        scores = await session.scalar(select(func.count(RatingScore.id)))
        comments = set((await session.scalars(select(Rating.comment))).all())
    assert ratings == RATERS * ITEMS
    assert scores == RATERS * ITEMS * 2 * len(DIMENSIONS)
    assert len(comments) == RATERS * ITEMS
    board = (await client.get("/api/v1/leaderboard", headers=auth)).json()
    assert board["ratings"] == RATERS * ITEMS and board["raters"] == RATERS
    # Every rater edits five ratings from two tabs at once: the tallies must still match the scores.
    edits = await asyncio.gather(*(rater(r, shift, 5) for r in range(RATERS) for shift in (1, 2)))
    assert [s for statuses in edits for s in statuses if s != 200] == []
    assert await _tallies(state) == await _tallies_from_scores(state)


async def _tallies(state: AppState) -> dict[tuple[int, str], tuple[int, ...]]:
    async with state.sessions() as session:
        rows = (await session.execute(select(ScoreTally.__table__))).all()
    return {(row.output_id, row.dimension): (row.n1, row.n2, row.n3, row.n4, row.n5) for row in rows}


async def _tallies_from_scores(state: AppState) -> dict[tuple[int, str], tuple[int, ...]]:
    given = [func.sum(case((RatingScore.score == v, 1), else_=0)) for v in range(1, 6)]
    stmt = select(RatingScore.output_id, RatingScore.dimension, *given).group_by(
        RatingScore.output_id, RatingScore.dimension
    )
    async with state.sessions() as session:
        rows = (await session.execute(stmt)).all()
    return {(row[0], row[1]): tuple(int(x) for x in row[2:]) for row in rows}
