"""Training sets from the team's ratings: corrected answers (what they replaced is the rejected side) and the
best-ranked answers above a score threshold (the worst-ranked is the rejected side), each row naming its source."""

from __future__ import annotations

import json

import httpx

from tests.rating.test_rating_exports import TEXT, rated  # noqa: F401  (the rated comparisons fixture)


async def test_corrections_and_top_rated_answers_keep_their_lineage(
    client: httpx.AsyncClient, auth: dict[str, str], rated: dict[str, object]  # noqa: F811
) -> None:
    body = {"name": "from ratings", "include_corrections": True, "include_top_rated": True, "min_score": 4, "validation_fraction": 0}
    response = await client.post("/api/v1/training-sets", json=body, headers=auth)
    assert response.status_code == 201, response.text
    training_set = response.json()
    assert training_set["sources"] == {"correction": 1, "top_rated": 2} and training_set["validation_count"] == 0
    rows = (await client.get(f"/api/v1/training-sets/{training_set['id']}/examples", headers=auth)).json()
    by_kind = {(r["source_kind"], r["prompt"]): r for r in rows}
    correction = by_kind[("correction", "How many vacation days?")]
    assert (correction["completion"], correction["rejected"]) == ("22 days a year, from day one.", TEXT["Prompted"])
    assert correction["comparison_id"] == rated["ids"][0]  # type: ignore[index]
    hr = by_kind[("top_rated", "How many vacation days?")]
    finance = by_kind[("top_rated", "Who signs expenses?")]
    assert (hr["completion"], hr["rejected"]) == (TEXT["Prompted"], TEXT["Tuned"])
    assert (finance["completion"], finance["rejected"]) == (TEXT["Retrieved"], TEXT["Tuned"])
    # A higher bar keeps neither top-rated answer (both have a mean score of 4.5).
    strict = await client.post(
        "/api/v1/training-sets", json=body | {"name": "strict", "include_corrections": False, "min_score": 4.6}, headers=auth
    )
    assert strict.status_code == 422 and "no examples" in strict.text
    dpo = await client.get(f"/api/v1/training-sets/{training_set['id']}/export?format=dpo", headers=auth)
    pairs = [json.loads(line) for line in dpo.text.splitlines()]
    assert len(pairs) == 3 and all(p["chosen"][0]["content"] != p["rejected"][0]["content"] for p in pairs)
