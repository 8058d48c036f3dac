"""Training sets: dedupe, a seeded split that keeps a prompt on one side, lineage, and the exports."""

from __future__ import annotations

import json
from typing import Any

import httpx

from app.finetune.building import Candidate, build, deduplicate, split, with_citation


def _c(prompt: str, completion: str, kind: str = "example", source: int = 1) -> Candidate:
    return Candidate(prompt, completion, kind, source)


def test_duplicates_are_dropped_ignoring_case_and_spacing_and_empty_rows_too() -> None:
    kept, dropped = deduplicate(
        [_c("How long?", "Ten days."), _c("how  long?", "ten days.", "correction", 7), _c("How long?", "Two weeks."), _c("", "x")]
    )
    assert [(c.prompt, c.completion) for c in kept] == [("How long?", "Ten days."), ("How long?", "Two weeks.")]
    assert dropped == 2


def test_the_split_is_seeded_and_never_divides_a_prompt() -> None:
    rows = [_c(f"q{i % 10}", f"a{i}") for i in range(30)]  # ten prompts, three answers each
    first, again, other = split(rows, 0.2, seed=1), split(rows, 0.2, seed=1), split(rows, 0.2, seed=2)
    assert [r.split for r in first] == [r.split for r in again]
    assert [r.split for r in first] != [r.split for r in other]
    sides = {r.prompt: set() for r in first}
    for r in first:
        sides[r.prompt].add(r.split)
    assert all(len(s) == 1 for s in sides.values())
    assert sum(s == {"validation"} for s in sides.values()) == 2


def test_a_tiny_set_keeps_something_to_train_on() -> None:
    assert [r.split for r in build([_c("only", "one")], 0.5, 0).rows] == ["train"]
    assert sorted(r.split for r in build([_c("a", "1"), _c("b", "2")], 0.1, 0).rows) == ["train", "validation"]


def test_a_question_and_its_copy_with_sources_land_on_the_same_side() -> None:
    rows = [_c(f"q{i}", f"a{i}") for i in range(10)]
    rows += [Candidate(f"Sources: ... Question: q{i}", f"a{i} [1]", "example+sources", i, group=f"q{i}") for i in range(10)]
    side = {r.prompt: r.split for r in split(rows, 0.3, seed=0)}
    assert all(side[f"q{i}"] == side[f"Sources: ... Question: q{i}"] for i in range(10))
    assert sum(s == "validation" for s in side.values()) == 6


def test_the_answer_cites_the_source_it_shares_most_words_with() -> None:
    sources = ["Parking is free for staff.", "New employees get 25 vacation days a year.", "Payday is monthly."]
    answer = "Answer: New employees get 25 vacation days.\nPolicy: Vacation"
    assert with_citation(answer, sources) == "Answer: New employees get 25 vacation days. [2]\nPolicy: Vacation"
    assert with_citation("Answer: unrelated", sources) == "Answer: unrelated"
    assert with_citation("Answer: 25 days", []) == "Answer: 25 days"


async def _example_set(client: httpx.AsyncClient, auth: dict[str, str]) -> int:
    examples = [{"input": f"Question {i}?", "output": f"Answer: {i} days."} for i in range(10)]
    examples.append({"input": "Question 1?", "output": "Answer: 1 days."})  # a duplicate
    response = await client.post("/api/v1/example-sets", json={"name": "house", "examples": examples}, headers=auth)
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def test_build_from_an_example_set_records_lineage_and_exports_chat_jsonl(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    set_id = await _example_set(client, auth)
    response = await client.post(
        "/api/v1/training-sets",
        json={"name": "house v1", "example_set_id": set_id, "system_prompt": "Be brief.", "seed": 3},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    assert (body["train_count"], body["validation_count"], body["duplicates_dropped"]) == (8, 2, 1)
    assert body["sources"] == {"example": 10}
    rows = (await client.get(f"/api/v1/training-sets/{body['id']}/examples", headers=auth)).json()
    assert {r["source_kind"] for r in rows} == {"example"} and len({r["source_id"] for r in rows}) == 10
    export = await client.get(f"/api/v1/training-sets/{body['id']}/export?split=train", headers=auth)
    lines = [json.loads(line) for line in export.text.splitlines()]
    assert len(lines) == 8
    assert [m["role"] for m in lines[0]["messages"]] == ["system", "user", "assistant"]
    assert lines[0]["messages"][0]["content"] == "Be brief."
    # No rows have a rejected answer: the DPO export is empty, not made up.
    assert (await client.get(f"/api/v1/training-sets/{body['id']}/export?format=dpo", headers=auth)).text == ""
    # The same name again is a conflict; no source at all is refused.
    again = await client.post("/api/v1/training-sets", json={"name": "house v1", "example_set_id": set_id}, headers=auth)
    assert again.status_code == 409
    empty = await client.post("/api/v1/training-sets", json={"name": "nothing"}, headers=auth)
    assert empty.status_code == 422


async def test_rows_with_sources_are_rag_prompts_that_cite(client: httpx.AsyncClient, auth: dict[str, str], state: Any) -> None:
    kb = await state.knowledge.create("policies", "")
    for i in range(10):
        await state.knowledge.ingest_text(
            kb.id, title=f"Case {i}", source=f"case-{i}.md", text=f"Question {i} has an answer: {i} days of leave for case {i}."
        )
    set_id = await _example_set(client, auth)
    response = await client.post(
        "/api/v1/training-sets",
        json={"name": "with sources", "example_set_id": set_id, "knowledge_base_id": kb.id, "top_k": 2},
        headers=auth,
    )
    assert response.status_code == 201, response.text
    assert response.json()["sources"] == {"example": 10, "example+sources": 10}
    rows = (await client.get(f"/api/v1/training-sets/{response.json()['id']}/examples", headers=auth)).json()
    with_sources = [r for r in rows if r["source_kind"] == "example+sources"]
    assert all("Sources:" in r["prompt"] and "[1]" in r["prompt"] for r in with_sources)
    assert all(r["completion"].endswith(("[1]", "[2]")) for r in with_sources)
    plain_side = {r["source_id"]: r["split"] for r in rows if r["source_kind"] == "example"}
    assert all(plain_side[r["source_id"]] == r["split"] for r in with_sources)
    missing = await client.post(
        "/api/v1/training-sets", json={"name": "no kb", "example_set_id": set_id, "knowledge_base_id": 999}, headers=auth
    )
    assert missing.status_code == 422 and "knowledge_base_id" in missing.text
