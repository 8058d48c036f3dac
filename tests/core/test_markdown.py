"""Answers render as Markdown and nothing a model writes can act: the XSS corpus comes out inert, citations
link to retrieved chunks only in running text, and only absolute http(s)/mailto links (or our anchors) survive."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from app.core.markdown import render_markdown

# What a hostile or confused model might write; none of it may survive as markup that acts.
XSS = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "<svg onload=alert(1)><circle r=1 /></svg>",
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java\tscript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    '<div hx-get="/api/v1/tokens" hx-trigger="load" hx-target="body">x</div>',
    '<button hx-post="/logout">x</button>',
    '<iframe src="https://evil.example"></iframe>',
    '<form action="https://evil.example"><input name=a></form>',
    '<p style="background:url(https://evil.example/x)">x</p>',
    "![pixel](https://evil.example/track.png)",
    '<a href="/users/1/disable">relative</a>',
    "[relative](/users/1/disable)",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    '<details open ontoggle="alert(1)">x</details>',
    "&lt;script&gt;alert(1)&lt;/script&gt;",
]
ALLOWED = {"p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote", "ul", "ol", "li", "a", "table",
           "thead", "tbody", "tr", "th", "td", "h1", "h2", "h3", "h4", "h5", "h6"}  # fmt: skip


class Elements(HTMLParser):
    """Every element and attribute of rendered HTML (its text may say anything: text does not act)."""

    def __init__(self, html: str):
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


@pytest.mark.parametrize("payload", XSS)
def test_the_xss_corpus_comes_out_inert(payload: str) -> None:
    html = str(render_markdown(f"Before {payload} after", lambda n: f"#output-1-ctx-{n}"))
    for tag, attrs in Elements(html).found:
        assert tag in ALLOWED, html
        assert set(attrs) <= {"href", "rel", "title", "class", "start"}, html
        href = attrs.get("href")
        assert href is None or href.startswith(("http:", "https:", "mailto:", "#output-1-ctx-")), html


def test_markdown_formats_code_lists_tables_and_links() -> None:
    html = str(
        render_markdown(
            "**Pay** is *monthly*:\n\n1. ask\n2. wait\n\n```python\nprint('<b>')\n```\n\n"
            "| day | pay |\n|:--|--:|\n| 1 | 5 |\n\n[handbook](https://larkspur.example/hb)"
        )
    )
    assert "<strong>Pay</strong>" in html and "<em>monthly</em>" in html
    assert "<ol>" in html and html.count("<li>") == 2
    assert "<pre><code>print('&lt;b&gt;')" in html  # code is shown, not run
    assert "<th>day</th>" in html and "<td>5</td>" in html  # no inline style: the CSP would refuse it
    assert '<a href="https://larkspur.example/hb" rel="noopener noreferrer nofollow">handbook</a>' in html


def test_citations_link_to_retrieved_chunks_in_running_text_only() -> None:
    def chunk(n: int) -> str | None:
        return f"#output-7-ctx-{n}" if n <= 2 else None

    html = str(render_markdown("Yes [1], see [2] and [9].\n\n`list[1]`\n\n```\nx[2]\n```\n\n[1]: https://evil.example", chunk))
    assert html.count('class="cite"') == 3  # [1], [2] and the [1] of the would-be definition, made text
    assert '<a class="cite" href="#output-7-ctx-1"' in html and "[9]" in html and "ctx-9" not in html
    assert "<code>list[1]</code>" in html and "x[2]" in html
    assert 'href="https://evil.example"' not in html  # a reference definition cannot hijack a citation
