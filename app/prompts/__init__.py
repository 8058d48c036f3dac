"""Prompt templates (Jinja2 files beside this module), rendered without HTML autoescape.

Templates a user writes render only through app.prompts.bounded (in worker processes, in a time budget).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

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
