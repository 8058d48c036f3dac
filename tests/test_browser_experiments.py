"""In a real browser, on the real bundled model: start an experiment from the form, watch its progress fill in
(HTMX polling under the CSP), then open its verdict and a paired comparison."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.test_browser import _sign_in, browser, page  # noqa: F401 - fixtures shared with the main browser test

pytestmark = pytest.mark.model


def test_run_an_experiment_and_read_its_verdict(page: Page, running_app: tuple[str, str]) -> None:  # noqa: F811
    url, token = running_app
    headers = {"Authorization": f"Bearer {token}"}
    items = [
        {"query": "How many vacation days do new employees get?", "reference": "22 days", "expected_source": "01-vacation.md"},
        {"query": "What is the capital of France?", "reference": "Paris", "tags": ["general"]},
    ]
    created = httpx.post(f"{url}/api/v1/datasets", json={"name": "browser-eval", "items": items}, headers=headers)
    assert created.status_code == 201, created.text
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    _sign_in(page, url)
    page.goto(f"{url}/experiments/new?dataset_id={created.json()['id']}")
    boxes = page.locator("input[name=variant_ids]")
    for i in range(boxes.count()):
        boxes.nth(i).uncheck()
    page.get_by_label(re.compile("Few-shot")).check()
    page.get_by_label(re.compile("RAG \\(policies\\)")).check()
    page.get_by_role("button", name="Run experiment").click()
    expect(page).to_have_url(re.compile(r"/experiments/\d+$"))
    # The progress block polls itself until the run has succeeded (2 items x 2 variants on the bundled model).
    expect(page.locator("#experiment-progress .badge")).to_have_text("succeeded", timeout=180_000)
    expect(page.locator("#experiment-progress")).to_contain_text("4 of 4 finished")
    page.get_by_role("link", name="Verdict").click()
    expect(page.get_by_role("heading", name="Verdict")).to_be_visible()
    expect(page.locator(".recommendation li").first).to_be_visible()
    expect(page.locator("table.verdict")).to_contain_text("Key facts")
    page.get_by_role("link", name=re.compile(" vs ")).first.click()
    expect(page.locator("table")).to_contain_text("Key facts")
    assert problems == []
