"""More of the HTML UI: every page as full page and fragment, history restores, form errors, helpers."""

from __future__ import annotations

import re

import httpx
import pytest

from app.catalog.imports import parse_examples_jsonl
from app.core.errors import FormInvalid
from app.core.web import duration, thousands, usd
from tests.comparisons.test_ui import csrf
from tests.factories import create_endpoint, create_variant


@pytest.fixture
async def comparison(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, object]:
    """A finished comparison (its one output is an error: nothing listens on the fake endpoint)."""
    endpoint = await create_endpoint(client, auth, name="local-fake")
    await create_variant(client, auth, endpoint["id"], name="Few", strategy="few_shot")
    response = await client.post("/api/v1/comparisons", json={"query": "How long?"}, headers=auth)
    assert response.status_code == 201
    return dict(response.json())


async def test_comparison_pages_and_leaderboard_full_and_fragment(
    client: httpx.AsyncClient, comparison: dict[str, object]
) -> None:
    cid = comparison["id"]
    for path in (f"/comparisons/{cid}", f"/comparisons/{cid}/columns", "/leaderboard", "/comparisons?page=2"):
        full = await client.get(path)
        fragment = await client.get(path, headers={"HX-Request": "true"})
        assert full.status_code == 200 and fragment.status_code == 200, path
        assert "<html" not in fragment.text and fragment.text.strip(), path
        assert full.headers["vary"] == "HX-Request"
        if not path.endswith("/columns"):
            assert "<html" in full.text, path


async def test_history_restore_gets_the_whole_page(
    client: httpx.AsyncClient, comparison: dict[str, object]
) -> None:
    """htmx asks for the page on a history cache miss; a bare fragment would replace the whole body."""
    headers = {"HX-Request": "true", "HX-History-Restore-Request": "true"}
    response = await client.get("/comparisons", headers=headers)
    assert response.status_code == 200 and "<html" in response.text


async def test_history_lists_comparisons_and_marks_its_nav_item(
    client: httpx.AsyncClient, comparison: dict[str, object]
) -> None:
    page = await client.get("/comparisons")
    assert "How long?" in page.text and f'/comparisons/{comparison["id"]}"' in page.text
    assert "Page 1 of 1" in page.text
    detail = await client.get(f"/comparisons/{comparison['id']}")
    assert re.search(r'href="[^"]*/comparisons" aria-current="page">History<', detail.text)
    assert 'aria-current="page">Compare<' not in detail.text


async def test_pending_comparison_streams_and_reloads_without_js(
    client: httpx.AsyncClient, comparison: dict[str, object], state
) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy import update

    from app.models import Output

    async with state.sessions.begin() as session:
        await session.execute(update(Output).values(status="pending"))
    page = await client.get(f"/comparisons/{comparison['id']}")
    assert f'/comparisons/{comparison["id"]}/stream" sse-close="end"' in page.text and "Waiting for the model" in page.text
    assert '<noscript><meta http-equiv="refresh"' in page.text
    assert "Rate these answers blind" not in page.text  # rating waits for every answer


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        ("/endpoints", {"name": " ", "base_url": "http://127.0.0.1:9/v1", "model": "m"}, "name"),
        ("/variants", {"name": "", "strategy": "few_shot", "endpoint_id": ""}, "name"),
        ("/example-sets", {"name": "", "description": "kept description"}, "name"),
    ],
)
async def test_empty_names_are_refused_with_the_input_kept(
    client: httpx.AsyncClient, path: str, data: dict[str, str], message: str
) -> None:
    token = (await csrf(client))["X-CSRF-Token"]
    response = await client.post(path, data=data | {"csrf_token": token})
    assert response.status_code == 422
    assert "Please fix" in response.text and message in response.text
    assert "<html" in response.text
    for value in data.values():
        if value.strip():
            assert value in response.text


async def test_example_set_jsonl_errors_name_every_bad_line(client: httpx.AsyncClient) -> None:
    token = (await csrf(client))["X-CSRF-Token"]
    examples = "\n".join(
        [
            '{"input": "q", "output": "a"}',
            '{"question": "q", "answer": "a"}',
            '{"input": "q"}',
            "",
            "[1, 2]",
            '{"input": "q", "output": "a"',
        ]
    )
    response = await client.post(
        "/example-sets", data={"name": "house", "examples": examples, "csrf_token": token}
    )
    assert response.status_code == 422
    text = response.text
    assert "line 2: unknown keys &#39;answer&#39;, &#39;question&#39;" in text
    assert "line 3: missing &#39;output&#39;" in text
    assert "line 5: each line must be a JSON object" in text
    assert "line 6: not valid JSON" in text
    assert "line 1" not in text
    assert "{&#34;question&#34;: &#34;q&#34;, &#34;answer&#34;: &#34;a&#34;}" in text  # the textarea keeps it


async def test_example_set_edit_round_trips_jsonl(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    created = await client.post(
        "/api/v1/example-sets",
        json={"name": "house", "examples": [{"input": "Ünïcode?", "output": "yes"}]},
        headers=auth,
    )
    set_id = created.json()["id"]
    page = await client.get(f"/example-sets/{set_id}/edit")
    assert "{&#34;input&#34;: &#34;Ünïcode?&#34;, &#34;output&#34;: &#34;yes&#34;}" in page.text
    token = (await csrf(client))["X-CSRF-Token"]
    saved = await client.post(
        f"/example-sets/{set_id}",
        data={
            "name": "house",
            "description": "",
            "examples": '{"input": "a", "output": "b"}\n{"input": "c", "output": "d"}',
            "csrf_token": token,
        },
    )
    assert saved.status_code == 303
    stored = (await client.get(f"/api/v1/example-sets/{set_id}", headers=auth)).json()
    assert [e["input"] for e in stored["examples"]] == ["a", "c"]


async def test_names_in_confirm_dialogs_stay_text_in_an_attribute(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    evil = "x'\"); alert(1); ('"
    endpoint = await create_endpoint(client, auth, name=evil)
    await create_variant(client, auth, endpoint["id"], name=evil, strategy="few_shot")
    for path in ("/variants", "/endpoints"):
        page = await client.get(path)
        # The question is data for static/js/triptych.js, escaped into the attribute; no inline handler.
        assert 'data-confirm="Archive x&#39;&#34;); alert(1); (&#39;?' in page.text, path
        assert "onsubmit" not in page.text and "confirm(" not in page.text


async def test_endpoints_page_says_who_uses_an_endpoint(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, auth, name="shared", api_key="sk-never-shown")
    await create_variant(client, auth, endpoint["id"], name="Uses shared", strategy="few_shot")
    page = await client.get("/endpoints")
    assert "Uses shared" in page.text and "key set" in page.text and "sk-never-shown" not in page.text
    edit = await client.get(f"/endpoints/{endpoint['id']}/edit")
    assert "sk-never-shown" not in edit.text and 'name="remove_key"' in edit.text


async def test_endpoint_key_is_kept_when_blank_and_removed_on_request(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, auth, name="keyed", api_key="sk-old")
    token = (await csrf(client))["X-CSRF-Token"]
    form = {"name": "keyed", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m2"}
    kept = await client.post(f"/endpoints/{endpoint['id']}", data=form | {"api_key": "", "csrf_token": token})
    assert kept.status_code == 303
    listed = {e["name"]: e for e in (await client.get("/api/v1/endpoints", headers=auth)).json()}
    assert listed["keyed"]["has_key"] is True and listed["keyed"]["model"] == "m2"
    removed = await client.post(
        f"/endpoints/{endpoint['id']}", data=form | {"remove_key": "1", "csrf_token": token}
    )
    assert removed.status_code == 303
    listed = {e["name"]: e for e in (await client.get("/api/v1/endpoints", headers=auth)).json()}
    assert listed["keyed"]["has_key"] is False


def test_parse_examples_jsonl_skips_blank_lines_and_caps_errors() -> None:
    assert [e.output for e in parse_examples_jsonl('\n{"input": "q", "output": "a"}\n\n')] == ["a"]
    with pytest.raises(FormInvalid) as caught:
        parse_examples_jsonl("nope\n" * 30)
    assert len(caught.value.messages) == 21 and caught.value.messages[-1] == "… and 10 more bad lines"


def test_number_filters() -> None:
    assert duration(None) == "\u2013" and duration(840.4) == "840 ms" and duration(12329.4) == "12.3 s"
    assert (
        usd(None) == "unknown"
        and usd(0) == "$0"
        and usd(0.0123) == "$0.0123"
        and usd(0.000042) == "$0.000042"
    )
    assert usd(0.00123) == "$0.0012" and usd(1e-9) == "< $0.000001"
    assert thousands(100000) == "100,000" and thousands(6) == "6"
