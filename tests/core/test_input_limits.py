"""JSON nested too deep is a 4xx before anything parses it: request bodies on every route, `Strict` models
however they are built, and the depth scan itself (exact on any JSON, linear on hostile text)."""

from __future__ import annotations

import json
import random
import time
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from app.core.nesting import MAX_JSON_DEPTH, too_deep
from app.core.types import Strict

DEEP = MAX_JSON_DEPTH + 1


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


def _nested(depth: int, rng: random.Random) -> Any:
    """A value exactly `depth` deep, with brackets, quotes and backslashes in its strings and keys."""
    value: Any = rng.choice(["x", 1, 'a\\"[{', "\\\\", ']}"\\', None])
    for _ in range(depth):
        value = rng.choice([[value, '[\\"', []], {'k"[': value, "o": {}}, [{}, value, "]"]])
    return value


def test_the_scan_measures_json_depth_exactly() -> None:
    rng = random.Random(18)
    for depth in range(MAX_JSON_DEPTH - 6, MAX_JSON_DEPTH + 6):
        for _ in range(30):
            value = _nested(depth, rng)
            text = json.dumps(value)
            assert too_deep(text) is (_depth(value) > MAX_JSON_DEPTH), text
            assert too_deep(text.encode(), 10) is (_depth(value) > 10)
    assert not too_deep('["' + "[" * 500 + '"]')  # brackets in a string are text
    assert not too_deep("[" + "[]," * 10_000 + "[]]")


@pytest.mark.parametrize(
    "hostile",
    [
        b"[" * 2_000_000,
        b"[" * 1_000_000 + b"]" * 1_000_000,
        b"[[]," * 500_000,
        (b"[" * MAX_JSON_DEPTH + b"1," + b"]" * MAX_JSON_DEPTH) * 30_000,
        b'"\\"' * 600_000,
    ],
)
def test_the_scan_is_linear_on_hostile_text(hostile: bytes) -> None:
    started = time.perf_counter()
    too_deep(hostile)
    # Measured at 2-80 ms a megabyte; a quadratic scan would take minutes here.
    assert time.perf_counter() - started < 2.0


async def test_deep_json_bodies_are_422_before_any_route_parses_them(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    for depth in (DEEP, 1_000, 100_000):
        deep = "[" * depth + "]" * depth
        for method, path, raw in [
            ("POST", "/api/v1/comparisons", f'{{"query": "q", "variant_ids": {deep}}}'),
            ("POST", "/api/v1/datasets", f'{{"name": "d", "items": {deep}}}'),
            ("PATCH", "/api/v1/datasets/1", f'{{"items": {deep}}}'),
            ("POST", "/api/v1/endpoints", deep),
            ("POST", "/api/v1/nowhere", deep),
        ]:
            answer = await client.request(
                method, path, content=raw, headers=auth | {"Content-Type": "application/json"}
            )
            assert answer.status_code == 422, (depth, path, answer.text)
            assert answer.json() == {"detail": f"the JSON body is nested deeper than {MAX_JSON_DEPTH} levels"}
            assert answer.headers["x-content-type-options"] == "nosniff"
    # FastAPI reads a body without a content type as JSON, and `+json` types are JSON too.
    deep = "[" * 5_000
    bare = await client.post("/api/v1/comparisons", content=deep, headers=auth)
    assert bare.status_code == 422 and "nested deeper" in bare.text
    typed = await client.post(
        "/api/v1/comparisons", content=deep, headers=auth | {"Content-Type": "application/merge-patch+json"}
    )
    assert typed.status_code == 422 and "nested deeper" in typed.text
    # As deep as allowed is the route's to judge (here: variant ids must be numbers).
    limit = "[" * (MAX_JSON_DEPTH - 1) + "]" * (MAX_JSON_DEPTH - 1)
    allowed = await client.post("/api/v1/comparisons", json=json.loads(f'{{"query": "q", "variant_ids": {limit}}}'), headers=auth)
    assert allowed.status_code == 422 and "nested deeper" not in allowed.text
    # The connection and the app are fine afterwards; nothing was stored.
    assert (await client.get("/api/v1/comparisons", headers=auth)).json() == []
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_brackets_inside_strings_and_other_media_types_pass(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    query = "[" * 200 + "{" * 200
    created = await client.post(
        "/api/v1/datasets", json={"name": "brackets", "items": [{"query": query}]}, headers=auth
    )
    assert created.status_code == 201, created.text
    assert created.json()["items"][0]["query"] == query
    # A CSV upload is not JSON, whatever its brackets.
    upload = await client.post(
        "/api/v1/datasets",
        data={"name": "csv"},
        files={"file": ("e.csv", ("query\n" + "[" * 100 + "\n").encode())},
        headers=auth,
    )
    assert upload.status_code == 201, upload.text


class _Body(Strict):
    value: Any


def test_strict_models_refuse_deep_values_however_built() -> None:
    value: Any = "leaf"
    for _ in range(5_000):  # deeper than Python's recursion limit
        value = [value]
    with pytest.raises(ValidationError, match=f"nested deeper than {MAX_JSON_DEPTH} levels"):
        _Body.model_validate({"value": value})
    shallow: Any = "leaf"
    for _ in range(MAX_JSON_DEPTH):
        shallow = {"k": shallow}
    assert _Body.model_validate({"value": shallow}).value == shallow
    with pytest.raises(ValidationError, match="NUL"):
        _Body.model_validate({"value": {"k": ["a\x00"]}})


def test_the_scan_costs_little_on_a_large_normal_body() -> None:
    items = [
        {"query": f"How many vacation days in year {i}?", "reference": "22 days", "tags": ["vacation", "leave"]}
        for i in range(10_000)
    ]
    body = json.dumps({"name": "big", "items": items}).encode()
    scans, parses = [], []
    for _ in range(5):
        started = time.perf_counter()
        assert not too_deep(body)
        scans.append(time.perf_counter() - started)
        started = time.perf_counter()
        json.loads(body)
        parses.append(time.perf_counter() - started)
    # Measured: about 0.5x json.loads of the same body (which pydantic then validates, many times slower).
    assert min(scans) < 3 * min(parses) + 0.005
