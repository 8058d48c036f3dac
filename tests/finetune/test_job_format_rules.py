"""A fine-tuning job's format rule is held to the datasets' checks: one that refers to itself without end is a
422 naming it, and no job is left behind."""

from __future__ import annotations

import json

import httpx
import pytest


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        ({"$ref": "#"}, "refers to itself without end"),
        ({"$ref": "#/$defs/a", "$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"$ref": "#/$defs/a"}}}, "refers to itself without end"),
        (json.loads('{"items": ' * 40 + "{}" + "}" * 40), "nested deeper than 32 levels"),
    ],
    ids=["self", "cycle", "deep"],
)
async def test_a_job_with_an_endless_format_rule_is_refused(
    client: httpx.AsyncClient, auth: dict[str, str], rule: dict[str, object], reason: str
) -> None:
    examples = [{"input": f"Question {i}?", "output": f"Answer: {i} days."} for i in range(6)]
    made = await client.post("/api/v1/example-sets", json={"name": "rules", "examples": examples}, headers=auth)
    training = await client.post(
        "/api/v1/training-sets", json={"name": "rules v1", "example_set_id": made.json()["id"]}, headers=auth
    )
    assert training.status_code == 201, training.text
    response = await client.post(
        "/api/v1/finetune/jobs",
        json={"training_set_id": training.json()["id"], "format_kind": "json_schema", "format_rule": json.dumps(rule)},
        headers=auth,
    )
    assert response.status_code == 422, response.text
    assert "format_rule" in response.text and reason in response.text
    assert (await client.get("/api/v1/finetune/jobs", headers=auth)).json() == []
