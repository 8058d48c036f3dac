"""In real Chromium: the pages run under the strict Content-Security-Policy without a single violation, the
cookie-tossing CSRF attack from another port of the same host is refused and changes nothing, and a hostile
model's answer renders as inert Markdown."""

from __future__ import annotations

import html
import re

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, expect
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from tests.factories import PASSWORD
from tests.fakes.fake_openai import FakeModel, FakeOpenAIServer
from tests.servers import ServerThread
from tests.test_browser import _sign_in, browser, page  # noqa: F401 - fixtures shared with the main browser test

pytestmark = pytest.mark.model
PAGES = [
    "/",
    "/comparisons",
    "/leaderboard",
    "/queues",
    "/variants",
    "/variants/new",
    "/endpoints",
    "/endpoints/new",
    "/example-sets",
    "/datasets",
    "/datasets/new",
    "/experiments",
    "/experiments/new",
    "/knowledge-bases",
    "/users",
    "/account",
    "/docs",
]


def _csp_problems(page: Page) -> list[str]:  # noqa: F811
    problems: list[str] = []

    def seen(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Refused to" in message.text:
            problems.append(f"{page.url}: {message.text}")

    page.on("console", seen)
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    return problems


def test_no_page_breaks_the_content_security_policy(page: Page, running_app: tuple[str, str]) -> None:  # noqa: F811
    url, _token = running_app
    problems = _csp_problems(page)
    _sign_in(page, url)
    for path in PAGES:
        answer = page.goto(url + path)
        assert answer is not None and answer.status == 200, path
        assert "script-src 'self'" in answer.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
    expect(page.get_by_text("/api/v1/comparisons").first).to_be_visible()  # /docs rendered the schema
    # The behaviour that moved from inline handlers into static/js/triptych.js still works.
    page.goto(url + "/")
    chip = page.locator("button.chip").first
    chip.click()
    expect(page.get_by_role("textbox", name="Question")).to_have_value(chip.inner_text())
    page.goto(url + "/variants")
    archive_forms = page.locator("form[data-confirm]")
    before = archive_forms.count()
    asked: list[str] = []

    def answer_no(dialog: Dialog) -> None:
        asked.append(dialog.message)
        dialog.dismiss()

    page.once("dialog", answer_no)
    archive_forms.first.locator("button").click()
    page.wait_for_load_state("networkidle")
    assert asked and asked[0].startswith("Archive ")
    assert page.locator("form[data-confirm]").count() == before  # nothing was archived
    assert problems == []


def _attacker(target: str) -> Starlette:
    """A page on another port of the same host: tosses a CSRF cookie it knows and auto-submits a form. (Cookies
    ignore ports; the path makes it a cookie of its own, sent before the real one.)"""

    async def attack(request: Request) -> HTMLResponse:
        action = html.escape(target)
        return HTMLResponse(
            f"""<!doctype html><body>
            <form id="f" method="post" action="{action}">
              <input name="csrf_token" value="KNOWN"><input name="role" value="admin">
            </form>
            <script>document.cookie = "triptych_csrf=KNOWN; path=/users"; document.getElementById("f").submit();</script>
            </body>"""
        )

    return Starlette(routes=[Route("/", attack)])


def test_cookie_tossing_from_another_port_is_refused(
    browser: Browser,  # noqa: F811
    running_app: tuple[str, str],
) -> None:
    url, token = running_app
    auth = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{url}/api/v1/users", json={"name": "victor", "role": "viewer", "password": PASSWORD}, headers=auth
    )
    assert created.status_code == 201, created.text
    victim = created.json()["id"]
    context = browser.new_context()
    try:
        admin = context.new_page()
        _sign_in(admin, url)
        with ServerThread(_attacker(f"{url}/users/{victim}")) as evil:
            with admin.expect_response(re.compile(rf"/users/{victim}$")) as posted:
                admin.goto(evil.url + "/")
            assert posted.value.status == 403
            assert "cross-origin request refused" in posted.value.text()
            # The toss itself worked: the forged request carried the attacker's cookie and the admin's session.
            cookies = posted.value.request.all_headers()["cookie"]
            assert "triptych_csrf=KNOWN" in cookies and "triptych_session=" in cookies
    finally:
        context.close()
    users = httpx.get(f"{url}/api/v1/users", headers=auth).json()
    assert next(u["role"] for u in users if u["id"] == victim) == "viewer"


# Answers a hostile model might give, streamed to Triptych a word at a time (each payload split across deltas).
HOSTILE_ANSWER = "\n\n".join(
    [
        "Before **bold** and a table:\n\n| a | b |\n|:--|--:|\n| 1 | 2 |",
        "<script>alert('script')</script>",
        '<img src=x onerror="alert(\'img\')">',
        "<svg onload=alert('svg')><circle r=1 /></svg>",
        "[click me](javascript:alert('link'))",
        '<a href="javascript:alert(\'anchor\')">anchor</a>',
        '<div hx-get="/api/v1/tokens" hx-trigger="load" hx-swap="outerHTML">htmx</div>',
        '<details open ontoggle="alert(\'toggle\')">x</details>',
        "![pixel](http://127.0.0.1:9/track.png)",
        "[relative](/users)",
        "After.",
    ]
)
# Everything under the answer that could act: scripts, handlers, htmx attributes, non-http links, media.
_ACTIVE_UNDER = """(selector) => {
  const found = [];
  for (const el of document.querySelector(selector).querySelectorAll('*')) {
    const tag = el.tagName.toLowerCase();
    if (['script', 'img', 'svg', 'iframe', 'form', 'input', 'button', 'style', 'math', 'details', 'object', 'embed'].includes(tag)) found.push(tag);
    for (const attribute of el.attributes) {
      if (/^(on|hx-|data-hx)/.test(attribute.name)) found.push(tag + ' ' + attribute.name);
    }
    if (tag === 'a' && !/^(https?:|mailto:|#output-)/.test(el.getAttribute('href') || 'https:')) found.push('href ' + el.getAttribute('href'));
  }
  return found;
}"""


def test_a_hostile_answer_renders_as_inert_markdown(page: Page, running_app: tuple[str, str]) -> None:  # noqa: F811
    url, token = running_app
    auth = {"Authorization": f"Bearer {token}"}
    with FakeOpenAIServer({"hostile": FakeModel(reply=HOSTILE_ANSWER)}) as fake:
        endpoint = httpx.post(
            f"{url}/api/v1/endpoints", json={"name": "hostile model", "base_url": fake.base_url, "model": "hostile"}, headers=auth
        )
        variant = httpx.post(
            f"{url}/api/v1/variants",
            json={"name": "hostile", "strategy": "fine_tuned", "endpoint_id": endpoint.json()["id"]},
            headers=auth,
        )
        try:
            asked = httpx.post(
                f"{url}/api/v1/comparisons", json={"query": "Say hi", "variant_ids": [variant.json()["id"]]}, headers=auth, timeout=60
            )
        finally:  # the other browser tests compare the demo's variants only
            httpx.delete(f"{url}/api/v1/variants/{variant.json()['id']}", headers=auth)
    assert asked.status_code == 201, asked.text
    output = asked.json()["outputs"][0]
    assert output["text"] == HOSTILE_ANSWER  # stored whole, as the model wrote it
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    problems = _csp_problems(page)
    _sign_in(page, url)
    page.goto(f"{url}/comparisons/{asked.json()['id']}")
    page.wait_for_load_state("networkidle")
    answer = page.locator(f"#output-{output['id']} .answer")
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator("table td").first).to_have_text("1")
    expect(answer).to_contain_text("<script>alert('script')</script>")  # shown as text, not run
    assert page.evaluate(_ACTIVE_UNDER, f"#output-{output['id']} .answer") == []
    page.wait_for_timeout(300)
    assert dialogs == [] and problems == []  # nothing refused by the CSP either (an inline style would be)
    assert not [r for r in requests if "track.png" in r or "/api/v1/tokens" in r]


def test_a_hostile_answer_streams_into_the_page_inert_at_every_step(page: Page, running_app: tuple[str, str]) -> None:  # noqa: F811
    """The column is redrawn from the whole text so far at each step, so a tag or link split across deltas
    never reaches the page active; the page shows the answer growing, then the stored column."""
    url, token = running_app
    auth = {"Authorization": f"Bearer {token}"}
    _sign_in(page, url)
    with FakeOpenAIServer({"hostile": FakeModel(reply=HOSTILE_ANSWER, token_delay_s=0.08)}) as fake:
        endpoint = httpx.post(
            f"{url}/api/v1/endpoints", json={"name": "hostile stream", "base_url": fake.base_url, "model": "hostile"}, headers=auth
        )
        variant = httpx.post(
            f"{url}/api/v1/variants",
            json={"name": "hostile-stream", "strategy": "fine_tuned", "endpoint_id": endpoint.json()["id"]},
            headers=auth,
        )
        try:
            body = {"query": "Say hi slowly", "variant_ids": [variant.json()["id"]], "stream": True}
            # The first event names the comparison; leaving the stream there does not stop the answer.
            with httpx.stream("POST", f"{url}/api/v1/comparisons", json=body, headers=auth, timeout=60) as response:
                first = next(line for line in response.iter_lines() if line.startswith("data: "))
            started = httpx.Response(200, content=first.removeprefix("data: ")).json()
            output_id = started["outputs"][0]["id"]
            dialogs: list[str] = []
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            requests: list[str] = []
            page.on("request", lambda request: requests.append(request.url))
            problems = _csp_problems(page)
            page.goto(f"{url}/comparisons/{started['id']}")
            answer = f"#output-{output_id} .answer"
            lengths: list[int] = []
            active: list[str] = []
            for _ in range(300):
                state = page.evaluate(
                    "(s) => { const a = document.querySelector(s); const c = a && a.closest('.column');"
                    " return a ? [a.textContent.length, c.className] : [0, ''] }",
                    answer,
                )
                active += page.evaluate(_ACTIVE_UNDER, answer) if state[0] else []
                if "status-done" in state[1]:
                    break
                lengths.append(state[0])
                page.wait_for_timeout(40)
        finally:  # the other browser tests compare the demo's variants only
            httpx.delete(f"{url}/api/v1/variants/{variant.json()['id']}", headers=auth)
    growing = sorted({n for n in lengths if n > 0})
    assert len(growing) >= 3, f"the answer did not grow in the page: {growing}"
    assert active == []
    expect(page.locator(answer).locator("strong")).to_have_text("bold")
    expect(page.locator(answer)).to_contain_text("<script>alert('script')</script>")
    assert page.evaluate(_ACTIVE_UNDER, answer) == []
    page.wait_for_timeout(300)
    assert dialogs == [] and problems == []
    assert not [r for r in requests if "track.png" in r or "/api/v1/tokens" in r]
