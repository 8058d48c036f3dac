"""Prompt templates (Jinja2 files beside this module), rendered without HTML autoescape."""

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


def render_prompt(name: str, **values: Any) -> str:
    """Render `name` (e.g. "rag_user.j2") with values; missing values are an error."""
    return _env.get_template(name).render(**values).strip()
