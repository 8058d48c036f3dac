"""Datasets over the API and pages: JSON and file imports, line-numbered errors that store nothing, versions."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import csrf_of

ITEMS = [
    {"query": "How many vacation days?", "reference": "22 days", "tags": ["vacation"], "expected_source": "01-vacation.md"},
    {"query": "Capital of France?", "reference": "Paris"},
]


async def _count(client: httpx.AsyncClient, auth: dict[str, str]) -> int:
    return len((await client.get("/api/v1/datasets", headers=auth)).json())


async def test_create_from_json_and_read_back(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    created = await client.post("/api/v1/datasets", json={"name": "eval", "items": ITEMS}, headers=auth)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["version"], body["item_count"]) == (1, 2)
    assert [i["query"] for i in body["items"]] == [i["query"] for i in ITEMS]
    assert body["items"][0]["tags"] == ["vacation"] and body["items"][1]["expected_source"] == ""
    shown = await client.get(f"/api/v1/datasets/{body['id']}", headers=auth)
    assert shown.json()["items"] == body["items"]


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        (
            "eval.csv",
            "query,reference,tags,expected_source\n"
            '"How many vacation days?",22 days,vacation;leave,01-vacation.md\nCapital of France?,Paris,,\n',
        ),
        (
            "eval.jsonl",
            '{"query": "How many vacation days?", "reference": "22 days", "tags": ["vacation", "leave"], "source": "01-vacation.md"}\n'
            "\n"
            '{"query": "Capital of France?", "reference": "Paris"}\n',
        ),
    ],
)
async def test_upload_csv_or_jsonl(client: httpx.AsyncClient, auth: dict[str, str], filename: str, content: str) -> None:
    response = await client.post(
        "/api/v1/datasets", data={"name": "uploaded"}, files={"file": (filename, content.encode())}, headers=auth
    )
    assert response.status_code == 201, response.text
    items = response.json()["items"]
    assert [(i["query"], i["reference"], i["tags"], i["expected_source"]) for i in items] == [
        ("How many vacation days?", "22 days", ["vacation", "leave"], "01-vacation.md"),
        ("Capital of France?", "Paris", [], ""),
    ]
    exported = await client.get(f"/api/v1/datasets/{response.json()['id']}/export?format=jsonl", headers=auth)
    again = await client.post(
        "/api/v1/datasets", data={"name": "round trip"}, files={"file": ("x.jsonl", exported.content)}, headers=auth
    )
    assert [i["query"] for i in again.json()["items"]] == [i["query"] for i in items]


@pytest.mark.parametrize(
    ("filename", "content", "expected"),
    [
        ("bad.jsonl", '{"query": "ok"}\n{"query": ""}\nnot json\n{"question": "aliased"}\n{"qurey": "typo"}\n',
         ["line 2: 'query' is empty", "line 3: not valid JSON", "line 5: unknown key(s) 'qurey'"]),
        ("bad.csv", "query,reference\nfine,x\nthree,fields,here\n", ["line 3: 3 fields, the header has 2"]),
        ("bad.csv", "prompt,reference\nx,y\n", ["line 1: unknown column(s) 'prompt'"]),
    ],
)
async def test_a_bad_line_is_named_and_nothing_is_stored(
    client: httpx.AsyncClient, auth: dict[str, str], filename: str, content: str, expected: list[str]
) -> None:
    before = await _count(client, auth)
    response = await client.post(
        "/api/v1/datasets", data={"name": "bad"}, files={"file": (filename, content.encode())}, headers=auth
    )
    assert response.status_code == 422
    for message in expected:
        assert message in response.json()["detail"]
    assert "line 1:" not in response.json()["detail"] or filename.endswith(".csv")
    assert await _count(client, auth) == before


async def test_format_rule_is_checked_on_save(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    bad = await client.post(
        "/api/v1/datasets",
        json={"name": "r", "items": ITEMS, "format_kind": "regex", "format_rule": "(unclosed"},
        headers=auth,
    )
    assert bad.status_code == 422 and "format_rule" in bad.json()["detail"]
    schema = await client.post(
        "/api/v1/datasets",
        json={"name": "s", "items": ITEMS, "format_kind": "json_schema", "format_rule": '{"type": 5}'},
        headers=auth,
    )
    assert schema.status_code == 422 and "format_rule" in schema.json()["detail"]


async def test_an_edit_versions_only_once_an_experiment_used_the_version(
    client: httpx.AsyncClient, auth: dict[str, str], state: object
) -> None:
    from app.models import Experiment

    dataset = (await client.post("/api/v1/datasets", json={"name": "v", "items": ITEMS}, headers=auth)).json()
    edited = await client.patch(f"/api/v1/datasets/{dataset['id']}", json={"items": ITEMS[:1]}, headers=auth)
    assert (edited.json()["version"], edited.json()["item_count"]) == (1, 1)  # unused: edited in place
    async with state.sessions.begin() as session:  # type: ignore[attr-defined]
        session.add(Experiment(dataset_version_id=dataset["version_id"], name="x"))
    again = await client.patch(f"/api/v1/datasets/{dataset['id']}", json={"items": ITEMS}, headers=auth)
    body = again.json()
    assert (body["version"], body["item_count"]) == (2, 2)
    assert [(v["version"], v["item_count"]) for v in body["versions"]] == [(1, 1), (2, 2)]
    renamed = await client.patch(f"/api/v1/datasets/{dataset['id']}", json={"name": "renamed"}, headers=auth)
    assert renamed.json()["version"] == 2  # a rename is not a new version


async def test_pages_create_show_and_refuse_bad_lines(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    token = await csrf_of(client)
    refused = await client.post(
        "/datasets", data={"csrf_token": token, "name": "page", "items": '{"query": "a"}\n{"reference": "b"}\n'}
    )
    assert refused.status_code == 422 and "line 2: missing &#39;query&#39;" in refused.text
    assert await _count(client, auth) == 0
    created = await client.post(
        "/datasets",
        data={"csrf_token": token, "name": "page"},
        files={"file": ("e.csv", b"query,reference\n=HYPERLINK(1),<b>bold</b>\n")},
    )
    assert created.status_code == 303, created.text
    page = await client.get(created.headers["location"])
    assert "=HYPERLINK(1)" in page.text and "&lt;b&gt;bold&lt;/b&gt;" in page.text
    dataset_id = created.headers["location"].rsplit("/", 1)[-1]
    csv = await client.get(f"/datasets/{dataset_id}/export?format=csv")
    assert "'=HYPERLINK(1)" in csv.text  # a spreadsheet does not run it


async def test_a_refused_upload_leaves_no_temporary_file_open(anonymous: httpx.AsyncClient, client: httpx.AsyncClient) -> None:
    """The fuzzer found it: a multipart body refused before its route runs (no token, a NUL in a field) used
    to leave its spooled upload open; warnings are errors, so an unclosed one fails this test at collection."""
    import gc

    big = b"query\n" + b"x" * 2_000_000  # past the spool size: a real temporary file
    refused = await anonymous.post("/api/v1/datasets", data={"name": "n"}, files={"file": ("a.csv", big)})
    assert refused.status_code == 401
    bad = await client.post(
        "/api/v1/datasets",
        data={"name": "n\x00"},
        files={"file": ("a.csv", big)},
        headers={"Authorization": "Bearer nope"},
    )
    assert bad.status_code in (401, 422)
    gc.collect()
