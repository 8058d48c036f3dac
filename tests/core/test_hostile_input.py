"""Bad input is a 4xx everywhere, on SQLite and PostgreSQL: huge ids, NUL bytes, lone surrogates, dangling
references, dates that are numbers; answers are truthful (UTC datetimes, Allow headers, security headers)."""

from __future__ import annotations

import re

import httpx
import pytest

from app.core.middleware import CONTENT_SECURITY_POLICY
from app.state import AppState
from tests.conftest import csrf_of
from tests.factories import create_endpoint, create_variant, make_user

INLINE_CODE = re.compile(r"<script>|<script [^>]*>[^<]|\son[a-z]+=|\sstyle=|javascript:|keydown\[")
HUGE = 2**63
HUGER = 10**30


@pytest.mark.parametrize("big", [HUGE, HUGER])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/comparisons/{}",
        "/api/v1/comparisons/{}/blind",
        "/api/v1/endpoints/{}",
        "/api/v1/variants/{}",
        "/api/v1/example-sets/{}",
        "/api/v1/knowledge-bases/{}",
        "/api/v1/ingest-jobs/{}",
        "/api/v1/queues/{}",
    ],
)
async def test_ids_beyond_64_bits_in_paths_are_422(
    client: httpx.AsyncClient, auth: dict[str, str], path: str, big: int
) -> None:
    answer = await client.get(path.format(big), headers=auth)
    assert answer.status_code == 422, answer.text
    assert isinstance(answer.json()["detail"], list)


async def test_ids_beyond_64_bits_in_bodies_queries_and_pages_are_4xx(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    endpoint = await create_endpoint(client, auth)
    bodies = [
        ("/api/v1/comparisons", {"query": "q", "variant_ids": [HUGE]}),
        ("/api/v1/variants", {"name": "v", "strategy": "few_shot", "endpoint_id": HUGE}),
        ("/api/v1/variants", {"name": "v", "strategy": "few_shot", "endpoint_id": endpoint["id"], "knowledge_base_id": HUGE}),
        ("/api/v1/queues", {"name": "q", "comparison_ids": [HUGE]}),
    ]
    for path, body in bodies:
        answer = await client.post(path, json=body, headers=auth)
        assert answer.status_code == 422, (path, answer.text)
    assert (await client.get(f"/api/v1/comparisons?offset={HUGER}", headers=auth)).status_code == 422
    assert (await client.get(f"/comparisons?page={HUGER}")).status_code == 422
    assert (await client.get(f"/comparisons/{HUGE}")).status_code == 422
    assert (await client.get(f"/variants?saved={HUGE}")).status_code == 422
    token = await csrf_of(client)
    form = await client.post("/comparisons", data={"csrf_token": token, "query": "q", "variant_ids": str(HUGE)})
    assert form.status_code == 422
    # The connection is still good after a refused request (a 500 used to reset it).
    assert (await client.get("/api/v1/variants", headers=auth)).status_code == 200


async def test_nul_and_lone_surrogates_are_422_in_any_text(
    client: httpx.AsyncClient, auth: dict[str, str]
) -> None:
    raw = '{"query": "why\\ud800?"}'
    surrogate = await client.post(
        "/api/v1/comparisons", content=raw, headers=auth | {"Content-Type": "application/json"}
    )
    assert surrogate.status_code == 422 and "surrogate" in surrogate.text
    for path, body in [
        ("/api/v1/comparisons", {"query": "why\x00?"}),
        ("/api/v1/endpoints", {"name": "n\x00", "base_url": "http://127.0.0.1:9/v1", "model": "m"}),
        ("/api/v1/example-sets", {"name": "s", "examples": [{"input": "i\x00", "output": "o"}]}),
        ("/api/v1/queues", {"name": "q", "dataset": "d\x00"}),
        ("/api/v1/users", {"name": "u\x00", "role": "rater"}),
    ]:
        answer = await client.post(path, json=body, headers=auth)
        assert answer.status_code == 422 and "NUL" in answer.text, (path, answer.text)
    for query in ("dataset=a%00b", "tag=%00", "since=2026-01-01%00"):
        answer = await client.get(f"/api/v1/leaderboard?{query}", headers=auth)
        assert answer.status_code == 422, (query, answer.text)
    token = await csrf_of(client)
    form = await client.post("/comparisons", data={"csrf_token": token, "query": "a\x00b", "variant_ids": "1"})
    assert form.status_code == 422 and "NUL" in form.text
    stored = (await client.get("/api/v1/comparisons", headers=auth)).json()
    assert stored == []


async def test_references_to_missing_rows_name_the_field(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    endpoint = await create_endpoint(client, auth)
    answer = await client.post(
        "/api/v1/variants",
        json={"name": "v", "strategy": "few_shot", "endpoint_id": endpoint["id"], "knowledge_base_id": 4242},
        headers=auth,
    )
    assert answer.status_code == 422 and "knowledge_base_id" in answer.json()["detail"]
    variant = await create_variant(client, auth, endpoint["id"], strategy="few_shot")
    patched = await client.patch(f"/api/v1/variants/{variant['id']}", json={"example_set_id": 4242}, headers=auth)
    assert patched.status_code == 422 and "example_set_id" in patched.json()["detail"]


async def test_dates_must_be_dates(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    for value in ("0.5", "1700000000", "yesterday"):
        answer = await client.get(f"/api/v1/leaderboard?until={value}", headers=auth)
        assert answer.status_code == 422, value
    for value in ("2026-11-01", "2026-11-01T09:30:00Z", "2026-11-01T09:30:00+02:00"):
        answer = await client.get("/api/v1/leaderboard", params={"until": value}, headers=auth)
        assert answer.status_code == 200, (value, answer.text)


async def test_datetimes_in_answers_are_utc_with_a_zone(
    client: httpx.AsyncClient, auth: dict[str, str], state: AppState
) -> None:
    await make_user(state, "rita", "rater")
    await create_endpoint(client, auth)
    for path in ("/api/v1/endpoints", "/api/v1/users"):
        for row in (await client.get(path, headers=auth)).json():
            assert row["created_at"].endswith("Z"), (path, row["created_at"])


async def test_options_names_every_method_of_the_path(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    answer = await client.options("/api/v1/comparisons", headers=auth)
    assert answer.status_code == 405
    assert set(answer.headers["allow"].split(", ")) >= {"GET", "POST"}
    item = await client.options("/api/v1/endpoints/1", headers=auth)
    assert set(item.headers["allow"].split(", ")) >= {"GET", "PATCH", "DELETE"}


@pytest.mark.parametrize(
    "path", ["/", "/login", "/leaderboard", "/api/v1/variants", "/healthz", "/static/js/triptych.js", "/nowhere", "/openapi.json"]
)
async def test_security_headers_on_every_response(client: httpx.AsyncClient, auth: dict[str, str], path: str) -> None:
    answer = await client.get(path, headers=auth)
    assert answer.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["referrer-policy"] == "same-origin"


async def test_pages_carry_no_inline_script(client: httpx.AsyncClient) -> None:
    for path in ("/", "/comparisons", "/leaderboard", "/variants", "/endpoints", "/example-sets", "/knowledge-bases", "/queues", "/users", "/account"):
        page = await client.get(path)
        assert page.status_code == 200, path
        assert not INLINE_CODE.search(page.text), (path, INLINE_CODE.search(page.text))

