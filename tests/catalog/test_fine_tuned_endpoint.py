"""Whether an endpoint serves a fine-tuned model is set through the API and the form, and shown as such."""

from __future__ import annotations

import httpx

from tests.conftest import csrf_of
from tests.factories import create_endpoint, create_variant

STAND_IN = "Not fine-tuned yet"


async def test_a_hosted_fine_tune_is_shown_as_fine_tuned(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    hosted = await create_endpoint(
        client, auth, name="hosted ft", base_url="http://127.0.0.1:9/v1", model="ft:gpt-4o-mini:acme::abc", is_fine_tuned=True
    )
    assert hosted["is_fine_tuned"] is True
    variant = await create_variant(client, auth, hosted["id"], name="Hosted fine-tune", strategy="fine_tuned")
    assert variant["notice"] is None
    page = await client.get("/variants")
    row = page.text.split("Hosted fine-tune", 1)[1].split("</tr>", 1)[0]
    assert STAND_IN not in row
    # Turned off again, the same variant is a stand-in and says so.
    await client.patch(f"/api/v1/endpoints/{hosted['id']}", json={"is_fine_tuned": False}, headers=auth)
    again = (await client.get(f"/api/v1/variants/{variant['id']}", headers=auth)).json()
    assert again["notice"] is not None


async def test_the_endpoint_form_sets_and_clears_fine_tuned(client: httpx.AsyncClient, auth: dict[str, str]) -> None:
    endpoint = await create_endpoint(client, auth, name="served")
    form = {"csrf_token": await csrf_of(client), "name": "served", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", "timeout_s": "60"}
    ticked = await client.post(f"/endpoints/{endpoint['id']}", data=form | {"is_fine_tuned": "1"})
    assert ticked.status_code == 303
    assert (await client.get(f"/api/v1/endpoints/{endpoint['id']}", headers=auth)).json()["is_fine_tuned"] is True
    edit = await client.get(f"/endpoints/{endpoint['id']}/edit")
    assert 'name="is_fine_tuned" value="1" checked' in edit.text
    cleared = await client.post(f"/endpoints/{endpoint['id']}", data=form)
    assert cleared.status_code == 303
    assert (await client.get(f"/api/v1/endpoints/{endpoint['id']}", headers=auth)).json()["is_fine_tuned"] is False
