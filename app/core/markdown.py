"""Model answers as Markdown: rendered with markdown-it-py (raw HTML in the answer stays text), then cleaned
by nh3 (ammonia) against an allow-list, so what a model writes can format but never act: no scripts, event
handlers, htmx or other attributes, `javascript:` links, styles or images (an image would be fetched from
wherever the model pointed it, telling that server who reads the answer)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml as escape_html
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from markupsafe import Markup

# What an answer may use: text structure, code, lists, tables, quotes, links.
_TAGS = {
    "p", "br", "hr", "strong", "em", "del", "code", "pre", "blockquote",
    "ul", "ol", "li", "h1", "h2", "h3", "h4", "h5", "h6",
    "table", "thead", "tbody", "tr", "th", "td", "a",
}  # fmt: skip
# No `style`: the pages' Content-Security-Policy refuses inline styles (a table's column alignment is lost).
_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
_SCHEMES = {"http", "https", "mailto"}
# Absolute links of those schemes, and this page's own citation anchors: a relative link written by a model
# (`/users/3/delete`, `../x`) would look like one of ours.
_LINK = re.compile(r"(?i)^(https?:|mailto:|#output-\d+-ctx-\d+$)")

# CommonMark, tables and strikethrough; `html: False` renders tags written in the answer as text.
# Reference definitions are off: `[1]: https://elsewhere` would turn a citation into a link of the model's.
_PARSER = (
    MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    .enable(["table", "strikethrough"])
    .disable("reference")
)
_CITATION = re.compile(r"\[(\d{1,3})\]")


def _image_as_text(_renderer: object, tokens: Sequence[Token], index: int, _options: OptionsDict, _env: EnvType) -> str:
    """An image becomes its description: shown, it would be fetched from wherever the model pointed."""
    alt = "".join(child.content for child in tokens[index].children or [])
    return escape_html(f"[image: {alt}]" if alt else "[image]")


_PARSER.add_render_rule("image", _image_as_text)


def render_markdown(text: str, cite: Callable[[int], str | None] | None = None) -> Markup:
    """The answer as safe HTML. `cite(n)`, when given, is the link target of a citation [n] (None: leave it as
    text); citations are linked in running text only, never in code. Links to this page's citation anchors
    are the only relative links that survive cleaning."""
    tokens = _PARSER.parse(text)
    if cite is not None:
        for block in tokens:
            if block.type == "inline" and block.children:
                block.children = [piece for child in block.children for piece in _cited(child, cite)]
    rendered = _PARSER.renderer.render(tokens, _PARSER.options, {})
    cleaned = nh3.clean(
        rendered,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        allowed_classes={"a": {"cite"}},
        attribute_filter=_safe_attribute,
    )
    return Markup(cleaned)  # noqa: S704 - cleaned against the allow-list above


def _cited(token: Token, cite: Callable[[int], str | None]) -> list[Token]:
    """A text token split around its citations, each cited one a link of ours (as raw HTML, which the
    renderer passes through and the cleaner then checks like everything else)."""
    if token.type != "text" or "[" not in token.content:
        return [token]
    pieces: list[Token] = []
    last = 0
    for match in _CITATION.finditer(token.content):
        target = cite(int(match.group(1)))
        if target is None:
            continue
        pieces.append(Token("text", "", 0, content=token.content[last : match.start()]))
        link = f'<a class="cite" href="{escape_html(target)}">{match.group(0)}</a>'
        pieces.append(Token("html_inline", "", 0, content=link))
        last = match.end()
    pieces.append(Token("text", "", 0, content=token.content[last:]))
    return pieces


def _safe_attribute(tag: str, attribute: str, value: str) -> str | None:
    if tag == "a" and attribute == "href":
        return value if _LINK.match(value) else None
    return value
