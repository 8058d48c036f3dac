"""Shared UI plumbing: templates, the full-page-or-fragment layout choice, form helpers."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import Request, status
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import ValidationError

from app.core.csrf import CSRF_FIELD, csrf_token_for, set_presession_cookie
from app.core.database import fail_unit_of_work
from app.core.errors import DomainError, FormInvalid
from app.core.markdown import render_markdown

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "templates"
templates = Jinja2Templates(directory=TEMPLATES_DIR)  # autoescape is on for .html: model output is escaped


def answer_html(text: str, output_id: int | None = None, contexts: int = 0) -> Markup:
    """A model's answer as sanitised Markdown (app/core/markdown.py); citations [n] that name one of the
    output's `contexts` retrieved chunks link to it."""

    def chunk(n: int) -> str | None:
        return f"#output-{output_id}-ctx-{n}" if output_id is not None and 1 <= n <= contexts else None

    return render_markdown(text, chunk)


def duration(ms: float | None) -> str:
    """Milliseconds for people: 840 ms, 12.3 s."""
    if ms is None:
        return "\u2013"  # en dash
    return f"{ms:.0f} ms" if ms < 1000 else f"{ms / 1000:.1f} s"


def usd(amount: float | None) -> str:
    """A cost that stays readable at fractions of a cent; unknown prices say so."""
    if amount is None:
        return "unknown"
    if amount == 0:
        return "$0"
    if amount >= 0.01:
        return f"${amount:.4f}"
    if amount < 1e-6:
        return "< $0.000001"
    decimals = 1 - math.floor(math.log10(amount))  # two significant digits, never exponent notation
    return f"${amount:.{decimals}f}"


def thousands(n: int) -> str:
    return f"{n:,}"


templates.env.filters["answer"] = answer_html
templates.env.filters["thousands"] = thousands
templates.env.filters["duration"] = duration
templates.env.filters["usd"] = usd

NAV = [
    ("compare_page", "Compare"),
    ("comparisons_page", "History"),
    ("queues_page", "Queues"),
    ("experiments_page", "Experiments"),
    ("finetune_page", "Fine-tuning"),
    ("leaderboard_page", "Leaderboard"),
    ("variants_page", "Variants"),
    ("knowledge_bases_page", "Knowledge"),
    ("endpoints_page", "Endpoints"),
    ("datasets_page", "Datasets"),
    ("example_sets_page", "Example sets"),
]


def is_htmx(request: Request) -> bool:
    """An HTMX swap wants the fragment; a history restore (cache miss) needs the whole page."""
    return request.headers.get("hx-request") == "true" and "hx-history-restore-request" not in request.headers


def nav_items(request: Request) -> list[tuple[str, str, bool]]:
    """(url, label, current) for the nav bar; a sub-page marks its section current."""
    path = request.url.path
    items = []
    for route, label in NAV:
        target = request.app.url_path_for(route)
        current = path == target or (target != "/" and path.startswith(target.rstrip("/") + "/"))
        items.append((str(request.url_for(route)), label, current))
    return items


def render(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render a page in the full layout, or only its content block for an HTMX request. A page answering
    with an error (a form sent back with its problems) rolls the request's unit of work back."""
    if status_code >= 400:
        fail_unit_of_work(request)
    values = {
        "layout": "fragment.html" if is_htmx(request) else "base.html",
        "csrf_token": csrf_token_for(request),
        "csrf_field": CSRF_FIELD,
        "nav": nav_items(request),
        # Set by the sign-in dependency; templates hide what the role cannot do.
        "me": getattr(request.state, "principal", None),
    } | (context or {})
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    # The same URL answers with a page or a fragment: caches must keep them apart.
    response.headers["Vary"] = "HX-Request"
    set_presession_cookie(request, response)
    return response


def render_fragment(request: Request, name: str, context: dict[str, Any]) -> str:
    """A template rendered to text with what every page gets (for a server-sent event, not a response)."""
    values = {
        "request": request,
        "csrf_token": csrf_token_for(request),
        "csrf_field": CSRF_FIELD,
        "me": getattr(request.state, "principal", None),
    } | context
    return templates.get_template(name).render(values)


def form_errors(exc: ValidationError | DomainError) -> list[str]:
    """Human-readable messages for a form: field: problem."""
    if isinstance(exc, FormInvalid):
        return exc.messages
    if isinstance(exc, DomainError):
        return [exc.detail]
    return validation_messages(exc.errors())


def validation_messages(errors: Sequence[Mapping[str, Any]], *, skip_location: int = 0) -> list[str]:
    """Pydantic's error entries as "field: problem" lines; `skip_location` drops leading parts of the
    location (a request's "body"/"query")."""
    messages = []
    for error in errors:
        where = ".".join(str(p) for p in tuple(error.get("loc", ()))[skip_location:])
        message = str(error.get("msg")).removeprefix("Value error, ")
        messages.append(f"{where}: {message}" if where else message)
    return messages


def error_status(exc: ValidationError | DomainError) -> int:
    return exc.status_code if isinstance(exc, DomainError) else 422


def form_error_page(
    request: Request, name: str, exc: ValidationError | DomainError, context: dict[str, Any]
) -> HTMLResponse:
    """The form again, with what the user typed and each of its problems; the status tells the kind
    (422 invalid, 409 conflict, ...), and the request's unit of work rolls back."""
    return render(request, name, context | {"errors": form_errors(exc)}, status_code=error_status(exc))


def redirect_to(
    request: Request, name: str, query_params: dict[str, Any] | None = None, **params: Any
) -> RedirectResponse:
    """Post/redirect/get: 303 to a named page."""
    url = request.url_for(name, **params)
    if query_params:
        url = url.include_query_params(**query_params)
    return RedirectResponse(url, status_code=status.HTTP_303_SEE_OTHER)


async def form_values(request: Request, fields: tuple[str, ...]) -> dict[str, Any]:
    """The named fields the form sent, as strings (absent fields stay absent)."""
    form = await request.form()
    return {f: str(form[f]) for f in fields if f in form}


def blank_to_none(values: dict[str, Any], *names: str) -> dict[str, Any]:
    """Empty form fields mean "not set" for optional values."""
    return {k: (None if k in names and v in ("", None) else v) for k, v in values.items()}
