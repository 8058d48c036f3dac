"""Shared UI plumbing: templates, the full-page-or-fragment layout choice, form helpers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from pydantic import ValidationError

from app.errors import DomainError
from app.security import CSRF_FIELD, csrf_token_for, set_csrf_cookie

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)  # autoescape is on for .html: model output is escaped
_CITATION = re.compile(r"\[(\d{1,2})\]")


def cite_links(text: str, output_id: int, contexts: int) -> Markup:
    """Escape the answer, then turn citations [n] that name a retrieved chunk into links to it."""

    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        if not 1 <= n <= contexts:
            return match.group(0)
        return f'<a class="cite" href="#output-{output_id}-ctx-{n}">[{n}]</a>'

    return Markup(_CITATION.sub(link, str(escape(text))))  # noqa: S704 - input escaped first, only our tags added


templates.env.filters["cite_links"] = cite_links

NAV = [
    ("compare_page", "Compare"),
    ("comparisons_page", "History"),
    ("leaderboard_page", "Leaderboard"),
    ("variants_page", "Variants"),
    ("knowledge_bases_page", "Knowledge"),
    ("endpoints_page", "Endpoints"),
    ("example_sets_page", "Example sets"),
]


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a page in the full layout, or only its content block for an HTMX request."""
    values = {
        "layout": "fragment.html" if is_htmx(request) else "base.html",
        "csrf_token": csrf_token_for(request),
        "csrf_field": CSRF_FIELD,
        "nav": NAV,
    } | (context or {})
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    set_csrf_cookie(request, response)
    return response


def form_errors(exc: ValidationError | DomainError) -> list[str]:
    """Human-readable messages for a form: field: problem."""
    if isinstance(exc, DomainError):
        return [exc.detail]
    messages = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()))
        messages.append(f"{where}: {error.get('msg')}" if where else str(error.get("msg")))
    return messages


def error_status(exc: ValidationError | DomainError) -> int:
    return exc.status_code if isinstance(exc, DomainError) else 422


def blank_to_none(values: dict[str, Any], *names: str) -> dict[str, Any]:
    """Empty form fields mean "not set" for optional values."""
    return {k: (None if k in names and v in ("", None) else v) for k, v in values.items()}
