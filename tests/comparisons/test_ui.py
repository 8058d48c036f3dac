"""The HTML pages: full page or HTMX fragment, CSRF, escaping, forms that keep input on errors."""

from __future__ import annotations

import re

import httpx
import pytest

from app.catalog.service import current_version
from app.models import Comparison, Output
from tests.conftest import csrf_in
from tests.factories import create_endpoint, create_variant

PAGES = [
    "/",
    "/comparisons",
    "/variants",
    "/variants/new",
    "/endpoints",
    "/endpoints/new",
    "/example-sets",
    "/example-sets/new",
]


async def csrf(client: httpx.AsyncClient) -> dict[str, str]:
    """Load a page (which sets the cookie) and return the header HTMX would send."""
    page = await client.get("/")
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert token, "the page must carry its CSRF token"
    return {"X-CSRF-Token": token.group(1)}


@pytest.fixture
async def seeded(client: httpx.AsyncClient, auth: dict[str, str]) -> dict[str, int]:
    endpoint = await create_endpoint(client, auth, name="local-fake")
    variant = await create_variant(client, auth, endpoint["id"], name="Tuned stand-in")
    example_set = await client.post(
        "/api/v1/example-sets",
        json={"name": "house", "examples": [{"input": "q", "output": "a"}]},
        headers=auth,
    )
    return {"endpoint": endpoint["id"], "variant": variant["id"], "example_set": example_set.json()["id"]}


@pytest.mark.parametrize("path", PAGES)
async def test_pages_render_full_and_as_fragments(
    client: httpx.AsyncClient, seeded: dict[str, int], path: str
) -> None:
    full = await client.get(path)
    fragment = await client.get(path, headers={"HX-Request": "true"})
    assert full.status_code == 200 and fragment.status_code == 200
    assert "<html" in full.text and "<nav" in full.text
    assert "<html" not in fragment.text and fragment.text.strip()


async def test_edit_pages_render(client: httpx.AsyncClient, seeded: dict[str, int]) -> None:
    for path in (
        f"/variants/{seeded['variant']}/edit",
        f"/endpoints/{seeded['endpoint']}/edit",
        f"/example-sets/{seeded['example_set']}/edit",
    ):
        for headers in ({}, {"HX-Request": "true"}):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, path


async def test_compare_page_says_the_fine_tuned_variant_is_a_stand_in(
    client: httpx.AsyncClient, seeded: dict[str, int]
) -> None:
    page = await client.get("/")
    assert "Tuned stand-in" in page.text
    assert "Not fine-tuned yet" in page.text


async def test_posts_without_csrf_are_rejected(client: httpx.AsyncClient, seeded: dict[str, int]) -> None:
    await client.get("/")
    for path, data in (
        ("/comparisons", {"query": "hi"}),
        ("/endpoints", {"name": "x", "base_url": "http://127.0.0.1:9/v1", "model": "m"}),
        (f"/variants/{seeded['variant']}/archive", {}),
    ):
        response = await client.post(path, data=data)
        assert response.status_code == 403, path
        assert "CSRF" in response.text
        wrong = await client.post(path, data=data, headers={"X-CSRF-Token": "forged"})
        assert wrong.status_code == 403
    assert (
        len(
            (
                await client.get(
                    "/api/v1/variants", headers={"Authorization": "Bearer tt_test-token-for-the-suite"}
                )
            ).json()
        )
        == 1
    )


async def test_asking_from_the_page_starts_a_polling_comparison(
    client: httpx.AsyncClient, seeded: dict[str, int], state
) -> None:  # type: ignore[no-untyped-def]
    headers = await csrf(client) | {"HX-Request": "true"}
    response = await client.post(
        "/comparisons", data={"query": "How many days?", "variant_ids": [seeded["variant"]]}, headers=headers
    )
    assert response.status_code == 200
    assert "How many days?" in response.text
    comparison_id = int(re.search(r'id="comparison-(\d+)"', response.text).group(1))  # type: ignore[union-attr]
    for task in state.runner.tasks.running():
        await task
    done = await client.get(f"/comparisons/{comparison_id}/columns", headers={"HX-Request": "true"})
    assert "every 1s" not in done.text  # finished: polling stops
    assert "Failed:" in done.text  # nothing listens on the fake endpoint: the error is shown in its column
    assert "Rate these answers blind" not in done.text  # every answer failed: nothing to rate


async def test_plain_form_post_redirects_to_the_comparison(
    client: httpx.AsyncClient, seeded: dict[str, int]
) -> None:
    token = (await csrf(client))["X-CSRF-Token"]
    response = await client.post(
        "/comparisons",
        data={"query": "Plain post", "variant_ids": [seeded["variant"]], "csrf_token": token},
    )
    assert response.status_code == 303
    assert re.search(r"/comparisons/\d+$", response.headers["location"])
    page = await client.get(response.headers["location"])
    assert page.status_code == 200 and "Plain post" in page.text


async def test_no_variant_ticked_is_an_error_not_all_variants(
    client: httpx.AsyncClient, seeded: dict[str, int]
) -> None:
    token = (await csrf(client))["X-CSRF-Token"]
    response = await client.post("/comparisons", data={"query": "Which?", "csrf_token": token})
    assert response.status_code == 422
    assert "choose at least one variant" in response.text
    assert ">Which?</textarea>" in response.text  # the question is kept
    assert not re.search(r'name="variant_ids" value="\d+"\s+checked', response.text)  # the choice is kept


async def test_empty_question_keeps_the_form_with_an_error(
    client: httpx.AsyncClient, seeded: dict[str, int]
) -> None:
    token = (await csrf(client))["X-CSRF-Token"]
    response = await client.post("/comparisons", data={"query": "   ", "csrf_token": token})
    assert response.status_code == 422
    assert "must not be empty" in response.text
    assert "<html" in response.text


async def test_model_output_is_escaped(client: httpx.AsyncClient, seeded: dict[str, int], state) -> None:  # type: ignore[no-untyped-def]
    from app.catalog.service import VariantService

    async with state.sessions.begin() as session:
        variant = await VariantService(session).get(seeded["variant"])
        comparison = Comparison(query="<b>q</b>", created_by="t")
        comparison.outputs.append(
            Output(
                variant_version_id=current_version(variant).id,
                status="done",
                text='<script>alert(1)</script><img src=x onerror="alert(2)">',
                contexts=[{"source": "<i>doc</i>", "text": "<script>x</script>", "score": 0.5}],
            )
        )
        session.add(comparison)
    page = await client.get(f"/comparisons/{comparison.id}")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text and "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<b>q</b>" not in page.text and "<i>doc</i>" not in page.text


async def test_answers_render_as_markdown_with_citations_linked_to_their_chunks(  # type: ignore[no-untyped-def]
    client: httpx.AsyncClient, seeded: dict[str, int], state
) -> None:
    from app.catalog.service import VariantService

    async with state.sessions.begin() as session:
        variant = await VariantService(session).get(seeded["variant"])
        comparison = Comparison(query="pay?", created_by="t")
        output = Output(
            variant_version_id=current_version(variant).id,
            status="done",
            text="**Monthly** [1], not weekly [4].\n\n- one\n- two\n\n`code [1]`",
            contexts=[{"source": "pay.md", "text": "Paid monthly.", "score": 0.9}],
        )
        comparison.outputs.append(output)
        session.add(comparison)
    page = await client.get(f"/comparisons/{comparison.id}")
    assert page.status_code == 200
    assert "<strong>Monthly</strong>" in page.text and "<li>one</li>" in page.text
    cited = f'<a class="cite" href="#output-{output.id}-ctx-1" rel="noopener noreferrer nofollow">[1]</a>'
    assert cited in page.text and f'id="output-{output.id}-ctx-1"' in page.text
    assert "ctx-4" not in page.text and "[4]" in page.text  # no chunk 4: the citation stays text
    assert "<code>code [1]</code>" in page.text


async def test_endpoint_form_validates_and_never_echoes_the_key(
    client: httpx.AsyncClient, seeded: dict[str, int]
) -> None:
    token = (await csrf(client))["X-CSRF-Token"]
    bad = await client.post(
        "/endpoints",
        data={
            "name": "leaky",
            "kind": "openai",
            "base_url": "file:///etc/passwd",
            "model": "m",
            "api_key": "sk-secret-typed",
            "timeout_s": "60",
            "csrf_token": token,
        },
    )
    assert bad.status_code == 422
    assert "only http and https" in bad.text
    assert 'value="leaky"' in bad.text and "file:///etc/passwd" in bad.text  # input kept
    assert "sk-secret-typed" not in bad.text
    good = await client.post(
        "/endpoints",
        data={
            "name": "ollama",
            "kind": "openai",
            "base_url": "http://127.0.0.1:11434/v1",
            "model": "llama3.2",
            "api_key": "sk-secret-typed",
            "timeout_s": "60",
            "csrf_token": token,
        },
    )
    assert good.status_code == 303
    listing = await client.get("/endpoints")
    assert "ollama" in listing.text and "key set" in listing.text and "sk-secret-typed" not in listing.text


async def test_variant_and_example_set_forms(
    client: httpx.AsyncClient, seeded: dict[str, int], auth: dict[str, str]
) -> None:
    token = (await csrf(client))["X-CSRF-Token"]
    created = await client.post(
        "/variants",
        data={
            "name": "Zero-shot",
            "strategy": "few_shot",
            "endpoint_id": str(seeded["endpoint"]),
            "temperature": "0.3",
            "top_p": "1",
            "max_tokens": "100",
            "few_shot_k": "0",
            "few_shot_selection": "first",
            "top_k": "0",
            "example_set_id": "",
            "knowledge_base_id": "",
            "csrf_token": token,
        },
    )
    assert created.status_code == 303
    rag_without_kb = await client.post(
        "/variants",
        data={
            "name": "Broken RAG",
            "strategy": "rag",
            "endpoint_id": str(seeded["endpoint"]),
            "top_k": "3",
            "knowledge_base_id": "",
            "csrf_token": token,
        },
    )
    assert rag_without_kb.status_code == 422 and "knowledge_base_id" in rag_without_kb.text
    assert 'value="Broken RAG"' in rag_without_kb.text
    bad_jsonl = await client.post(
        "/example-sets",
        data={"name": "bad", "examples": '{"input": "q", "output": "a"}\n{not json', "csrf_token": token},
    )
    assert bad_jsonl.status_code == 422 and "line 2" in bad_jsonl.text
    good = await client.post(
        "/example-sets",
        data={"name": "ok", "examples": '{"input": "q", "output": "a"}\n', "csrf_token": token},
    )
    assert good.status_code == 303
    names = {v["name"] for v in (await client.get("/api/v1/variants", headers=auth)).json()}
    assert names == {"Tuned stand-in", "Zero-shot"}


async def test_editing_a_used_variant_reports_the_new_version(
    client: httpx.AsyncClient, seeded: dict[str, int], auth: dict[str, str]
) -> None:
    await client.post("/api/v1/comparisons", json={"query": "hi"}, headers=auth)
    token = (await csrf(client))["X-CSRF-Token"]
    response = await client.post(
        f"/variants/{seeded['variant']}",
        data={
            "name": "Tuned stand-in",
            "endpoint_id": str(seeded["endpoint"]),
            "temperature": "0.9",
            "top_p": "1",
            "max_tokens": "200",
            "few_shot_k": "0",
            "few_shot_selection": "first",
            "top_k": "0",
            "example_set_id": "",
            "knowledge_base_id": "",
            "csrf_token": token,
        },
    )
    assert response.status_code == 303
    page = await client.get(response.headers["location"])
    assert "Saved Tuned stand-in as version 2" in page.text and "version 1 stays as it was" in page.text
    unchanged = await client.post(
        f"/variants/{seeded['variant']}",
        data={
            "name": "Tuned stand-in",
            "endpoint_id": str(seeded["endpoint"]),
            "temperature": "0.9",
            "top_p": "1",
            "max_tokens": "200",
            "csrf_token": token,
        },
        follow_redirects=True,
    )
    assert "Saved Tuned stand-in (version 2)." in unchanged.text


async def test_ui_sends_remote_clients_to_sign_in_without_the_local_admin(app) -> None:  # type: ignore[no-untyped-def]
    transport = httpx.ASGITransport(app=app, client=("203.0.113.5", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://triptych.example") as remote:
        response = await remote.get("/")
        assert response.status_code == 303
        assert response.headers["location"].endswith("/login?next=%2F")
        login = await remote.get("/login")
        assert "Continue as local admin" not in login.text
        token = csrf_in(login.text)
        refused = await remote.post("/login/local", data={"csrf_token": token})
    assert refused.status_code == 403
    assert "triptych_session" not in refused.headers.get("set-cookie", "")


async def test_unknown_comparison_page_is_an_html_404(
    client: httpx.AsyncClient, seeded: dict[str, int]
) -> None:
    response = await client.get("/comparisons/987654")
    assert response.status_code == 404
    assert "<html" in response.text and "not found" in response.text


async def test_asking_with_a_dataset_and_tags_labels_the_comparison(
    client: httpx.AsyncClient, seeded: dict[str, int], auth: dict[str, str]
) -> None:
    headers = await csrf(client)
    form = {"query": "Q?", "variant_ids": [seeded["variant"]], "dataset": "hr", "tags": "week-1, policy"}
    response = await client.post("/comparisons", data=form, headers=headers)
    assert response.status_code == 303
    comparison_id = int(response.headers["location"].rsplit("/", 1)[1])
    stored = (await client.get(f"/api/v1/comparisons/{comparison_id}", headers=auth)).json()
    assert stored["dataset"] == "hr" and stored["tags"] == ["week-1", "policy"]  # as typed
    bad = await client.post("/comparisons", data=form | {"tags": "has space"}, headers=headers)
    assert bad.status_code == 422 and "has space" in bad.text  # the typed tags stay on the form
    assert "no spaces" in bad.text
