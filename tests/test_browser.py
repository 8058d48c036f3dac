"""In a real browser (Debian's chromium, driven by Playwright): sign in, ask, watch the columns, rate blind,
see the reveal, see the leaderboard change. Uses the real app and the real bundled model."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.conftest import E2E_ADMIN
from tests.factories import PASSWORD

pytestmark = pytest.mark.model
# Debian's chromium package (installed by .ci/run / `make test`); Playwright's own download is not used.
CHROMIUM = os.environ.get("TRIPTYCH_CHROMIUM", "/usr/bin/chromium")
QUESTION = "How many vacation days do new employees get?"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: `apt-get install chromium` (as .ci/run does)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context()
    opened = context.new_page()
    opened.set_default_timeout(30_000)
    yield opened
    context.close()


def _sign_in(page: Page, url: str) -> None:
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Name").fill(E2E_ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Ask once, compare every variant")).to_be_visible()


def test_ask_rate_blind_reveal_and_leaderboard(page: Page, running_app: tuple[str, str]) -> None:
    url, _token = running_app
    _sign_in(page, url)
    page.goto(url + "/leaderboard")
    expect(page.get_by_text("No ratings yet")).to_be_visible()

    page.goto(url + "/")
    page.get_by_role("textbox", name="Question").fill(QUESTION)
    page.get_by_role("button", name="Compare", exact=True).click()
    columns = page.locator(".comparison .column")
    expect(columns).to_have_count(4)
    # The columns fill in as the bundled model answers; the rating link appears when all are in.
    rate = page.get_by_role("link", name="Rate these answers blind")
    expect(rate).to_be_visible(timeout=240_000)
    variant_names = [n.strip() for n in page.locator(".comparison .column .variant-name").all_inner_texts()]
    assert len(variant_names) == 4 and all(variant_names)

    rate.click()
    expect(page.get_by_role("heading", name="Answer A")).to_be_visible()
    main = page.locator("main").inner_text()
    for name in variant_names:
        assert name not in main, f"{name!r} is visible before rating"
    labels = page.locator("h2.blind-label").all_inner_texts()
    assert [label.removeprefix("Answer ") for label in labels] == ["A", "B", "C", "D"]
    for i, label in enumerate("ABCD"):
        for dimension in ("Correctness", "Helpfulness", "Format"):
            page.get_by_label(f"Answer {label}, {dimension}: {5 - i} of 5").check()
        page.get_by_label(f"Rank of answer {label}").select_option(str(i + 1))
    page.get_by_label("Comment").fill("A quotes the policy")
    page.get_by_role("button", name="Save rating").click()

    reveal = page.locator("#reveal")
    expect(reveal.get_by_role("heading", name=re.compile("Who wrote what"))).to_be_visible()
    revealed = reveal.inner_text()
    assert all(name in revealed for name in variant_names)
    first_row = reveal.locator("tbody tr").first.inner_text()
    assert first_row.startswith("A")
    first_name = next(name for name in variant_names if name in first_row)

    page.goto(url + "/leaderboard")
    expect(page.get_by_text(re.compile(r"1 rating by 1 rater"))).to_be_visible()
    board = page.locator("table.leaderboard").inner_text()
    # The answer ranked first leads the leaderboard.
    assert board.index(first_name) < min(board.index(n) for n in variant_names if n != first_name)
