"""Prompt templates (Jinja2 files beside this module), rendered without HTML autoescape."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, TemplateSyntaxError
from jinja2.sandbox import SandboxedEnvironment

_env = Environment(
    loader=FileSystemLoader(Path(__file__).parent),
    undefined=StrictUndefined,
    autoescape=False,  # noqa: S701 - prompts are plain text sent to a model, never HTML
    keep_trailing_newline=False,
    trim_blocks=True,
    lstrip_blocks=True,
)


def template_source(name: str) -> str:
    """A built-in template's text (shown as the starting point for a variant's own)."""
    return (Path(__file__).parent / name).read_text(encoding="utf-8")


def render_prompt(name: str, **values: Any) -> str:
    """Render `name` (e.g. "rag_user.j2") with values; missing values are an error."""
    return _env.get_template(name).render(**values).strip()


# Templates a user writes (a variant's context template) render in a sandbox: no attribute access to
# internals, no imports, and a size cap on what they produce.
_sandbox = SandboxedEnvironment(
    undefined=StrictUndefined,
    autoescape=False,
    trim_blocks=True,
    lstrip_blocks=True,
)
MAX_RENDERED = 200_000
SAMPLE_CONTEXTS = [{"source": "handbook.md", "heading": "Leave", "text": "New staff get 22 days.", "score": 0.9}]


def render_user_template(text: str, **values: Any) -> str:
    """Render a user-written template in the sandbox; raises ValueError with a reason a user can act on."""
    try:
        rendered = _sandbox.from_string(text).render(**values).strip()
    except TemplateSyntaxError as exc:
        raise ValueError(f"line {exc.lineno}: {exc.message}") from None
    except (TemplateError, TypeError, ValueError) as exc:
        raise ValueError(str(exc) or type(exc).__name__) from None
    if len(rendered) > MAX_RENDERED:
        raise ValueError(f"the template renders more than {MAX_RENDERED:,} characters")
    return rendered


def user_template_problem(text: str) -> str | None:
    """Why a context template cannot be used (tried on a sample source and question), or None."""
    try:
        render_user_template(text, contexts=SAMPLE_CONTEXTS, query="How many days?")
    except ValueError as exc:
        return str(exc)
    return None
