"""Hostile dataset input stays a 4xx and never stalls the app: files past the item cap are refused without
reading on, JSONL lines nested too deep are bad lines, and format rules that cannot work are refused."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from app.core.nesting import MAX_JSON_DEPTH
from app.datasets import imports
from app.datasets.imports import parse_items
from app.datasets.schemas import MAX_ITEMS
from tests.factories import while_probing

TREE = {"type": "object", "properties": {"child": {"$ref": "#"}}}
SELF = {"$ref": "#"}
CYCLE = {"$ref": "#/definitions/a", "definitions": {"a": {"$ref": "#/definitions/b"}, "b": {"$ref": "#/definitions/a"}}}


async def test_a_million_row_csv_is_refused_at_the_cap_without_stalling_the_app(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    big = b"query\n" + b"q\n" * 1_000_000  # 2 MB
    response, latencies = await while_probing(
        client, client.post("/api/v1/datasets", data={"name": "huge"}, files={"file": ("big.csv", big)}, headers=auth)
    )
    assert response.status_code == 422, response.text
    assert f"more than {MAX_ITEMS:,} items" in response.json()["detail"]
    assert "line 10,002" not in response.json()["detail"] and "line 10002" in response.json()["detail"]
    assert latencies and max(latencies) < 0.2, latencies
    assert (await client.get("/api/v1/datasets", headers=auth)).json() == []


class _CountingRows:
    """A csv.reader that counts the rows taken from it."""

    def __init__(self, reader: Any):
        self.reader = reader
        self.taken = 0

    def __iter__(self) -> _CountingRows:
        return self

    def __next__(self) -> list[str]:
        self.taken += 1
        return next(self.reader)

    @property
    def line_num(self) -> int:
        return int(self.reader.line_num)


def test_the_parse_stops_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows past the cap are never parsed (a million rows took 22 s; the cap's worth about 0.1 s)."""
    readers: list[_CountingRows] = []
    real_reader, real_loads = imports.csv.reader, imports.json.loads
    monkeypatch.setattr(imports.csv, "reader", lambda *a: readers.append(_CountingRows(real_reader(*a))) or readers[-1])
    loaded = []
    monkeypatch.setattr(imports.json, "loads", lambda line: loaded.append(1) or real_loads(line))
    for name, data, first_line in [
        ("big.csv", b"query\n" + b"q\n" * 1_000_000, 2),
        ("big.jsonl", b'{"query": "q"}\n' * 1_000_000, 1),
    ]:
        with pytest.raises(Exception, match=f"more than {MAX_ITEMS:,} items.*line {MAX_ITEMS + first_line}$"):
            parse_items(name, data)
    assert readers[0].taken == 1 + MAX_ITEMS + 1  # the header, the cap's worth, the one that went past it
    assert len(loaded) == MAX_ITEMS + 1
    exactly = parse_items("cap.csv", b"query\n" + b"q\n" * MAX_ITEMS)
    assert len(exactly) == MAX_ITEMS


async def test_a_jsonl_line_nested_too_deep_is_a_line_error(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    deep = '{"query": "q", "tags": ' + "[" * 5_000 + "]" * 5_000 + "}"
    just = '{"query": "q", "tags": ' + "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1) + "}"
    lines = ['{"query": "fine"}', "", deep, just, "[" * 100_000]
    response = await client.post(
        "/api/v1/datasets",
        data={"name": "deep"},
        files={"file": ("deep.jsonl", "\n".join(lines).encode())},
        headers=auth,
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert f"line 3: nested deeper than {MAX_JSON_DEPTH} levels" in detail
    assert f"line 5: nested deeper than {MAX_JSON_DEPTH} levels" in detail
    assert "line 4: 'tags.0'" in detail  # parsed; then the tags are not text
    # A JSON string may hold U+2028 as it is: it does not end the line.
    ok = await client.post(
        "/api/v1/datasets",
        data={"name": "separators"},
        files={"file": ("s.jsonl", '{"query": "a\u2028b"}\r\n{"query": "c"}\r'.encode())},
        headers=auth,
    )
    assert ok.status_code == 201, ok.text
    assert [i["query"] for i in ok.json()["items"]] == ["a\u2028b", "c"]


async def test_a_json_body_past_the_cap_is_refused_before_its_items_are_validated(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    items = [{"query": "q"}] * 300_000
    for method, path in (("POST", "/api/v1/datasets"), ("PATCH", "/api/v1/datasets/1")):
        started = time.perf_counter()
        response = await client.request(method, path, json={"name": "n", "items": items}, headers=auth)
        assert response.status_code == 422 and f"more than {MAX_ITEMS:,}" in response.text, response.text
        # Measured: about 1 s, most of it json.loads; validating every item first took far longer.
        assert time.perf_counter() - started < 5


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (json.dumps(SELF), "refers to itself without end (# -> #)"),
        (json.dumps(CYCLE), "(#/definitions/a -> #/definitions/b -> #/definitions/a)"),
        (json.dumps({"properties": {"a": {"allOf": [{"$ref": "#/properties/a"}]}}}), "refers to itself without end"),
        ('{"properties": ' * 300 + "{}" + "}" * 300, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        ("[" * 19_000, f"nested deeper than {MAX_JSON_DEPTH} levels"),
        (json.dumps({"$ref": "#/enum/0", "enum": [5]}), "'#/enum/0' is not a schema"),
        (json.dumps({"$ref": "https://example.invalid/s.json"}), "refers to a schema that cannot be loaded"),
        (json.dumps({"type": "nope"}), "not a valid JSON Schema"),
    ],
    ids=["self", "cycle", "cycle-through-allOf", "deep-schema", "deep-json", "not-a-schema", "remote", "invalid"],
)
async def test_format_rules_that_cannot_work_are_refused_when_saved(
    client: httpx.AsyncClient, auth: dict[str, str], rule: str, reason: str
) -> None:
    body = {"name": "rules", "items": [{"query": "q"}], "format_kind": "json_schema"}
    created = await client.post("/api/v1/datasets", json=body | {"format_rule": rule}, headers=auth)
    assert created.status_code == 422, created.text
    assert reason in created.json()["detail"] and "format_rule" in created.json()["detail"]
    dataset = await client.post("/api/v1/datasets", json=body | {"format_rule": json.dumps(TREE)}, headers=auth)
    assert dataset.status_code == 201, dataset.text  # recursion through properties ends with the data
    patched = await client.patch(f"/api/v1/datasets/{dataset.json()['id']}", json={"format_rule": rule}, headers=auth)
    assert patched.status_code == 422 and reason in patched.json()["detail"]
    upload = await client.post(
        "/api/v1/datasets",
        data={"name": "upload", "format_kind": "json_schema", "format_rule": rule},
        files={"file": ("q.csv", b"query\nq\n")},
        headers=auth,
    )
    assert upload.status_code == 422 and reason in upload.json()["detail"]
    assert len((await client.get("/api/v1/datasets", headers=auth)).json()) == 1
