"""Example pairs pasted or uploaded as JSONL: parsed, and every bad line reported in the form's terms."""

from __future__ import annotations

import json

from pydantic import ValidationError

from app.catalog.schemas import ExampleIn
from app.core.errors import FormInvalid

MAX_LINE_ERRORS = 20


def _example_problem(row: object) -> str:
    """Why one parsed JSONL row is not an example, in the form's terms."""
    if not isinstance(row, dict):
        return 'each line must be a JSON object like {"input": "...", "output": "..."}'
    if unknown := sorted(set(row) - {"input", "output"}):
        return f'unknown key{"s" if len(unknown) > 1 else ""} {", ".join(map(repr, unknown))}: use only "input" and "output"'
    missing = [k for k in ("input", "output") if k not in row]
    if missing:
        return f"missing {' and '.join(repr(k) for k in missing)}"
    for key in ("input", "output"):
        if not isinstance(row[key], str):
            return f"{key!r} must be a string"
        if not row[key].strip():
            return f"{key!r} is empty"
        if len(row[key]) > 8000:
            return f"{key!r} is longer than 8000 characters"
    return "not a valid example"


def parse_examples_jsonl(text: str) -> list[ExampleIn]:
    """One {"input", "output"} object per line; every bad line is reported with its number."""
    examples: list[ExampleIn] = []
    problems: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"line {number}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        try:
            examples.append(ExampleIn.model_validate(row))
        except ValidationError:
            problems.append(f"line {number}: {_example_problem(row)}")
    if problems:
        raise FormInvalid.for_lines(problems, MAX_LINE_ERRORS)
    return examples
