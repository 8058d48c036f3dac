"""Dataset items from and to CSV and JSONL; a bad line is refused with its number and the reason.

Files are read a line at a time and refused as soon as they pass `MAX_ITEMS`: a 2 MB file can hold a million
rows, and none past the cap is parsed or validated. A JSONL line nested too deep is a bad line."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any

from pydantic import ValidationError

from app.core.errors import FormInvalid
from app.core.nesting import TOO_DEEP, too_deep
from app.core.spreadsheet import safe_cell
from app.datasets.schemas import MAX_ITEMS, ItemIn

MAX_LINE_ERRORS = 20
COLUMNS = ("query", "reference", "tags", "expected_source")
# Accepted spellings of the columns (the demo files and other tools say "source", "input", "expected").
ALIASES = {"source": "expected_source", "input": "query", "question": "query", "expected": "reference"}


def parse_items(filename: str, data: bytes) -> list[ItemIn]:
    """Items from a .csv or .jsonl upload (chosen by the name, else by the first character)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise FormInvalid([f"the file is not UTF-8 text (byte {exc.start})"]) from None
    lowered = filename.lower()
    if lowered.endswith(".csv") or (not lowered.endswith((".jsonl", ".json", ".ndjson")) and _looks_csv(text)):
        return parse_csv(text)
    return parse_jsonl(text)


def _looks_csv(text: str) -> bool:
    return not text.lstrip().startswith("{")


def parse_jsonl(text: str) -> list[ItemIn]:
    """One JSON object per line."""

    def rows() -> Iterator[tuple[int, Any]]:
        # Lines end where an editor ends them (\n, \r\n, \r): a JSON string may hold U+2028 as it is.
        for number, line in enumerate(io.StringIO(text, newline=None), start=1):
            if not line.strip():
                continue
            if too_deep(line):
                yield number, _Bad(TOO_DEEP)
                continue
            try:
                yield number, json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, _Bad(f"not valid JSON ({exc.msg} at column {exc.colno})")

    return _validated(rows())


def parse_csv(text: str) -> list[ItemIn]:
    """A header row naming the columns (query is required); tags are separated by semicolons."""
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return []
    except csv.Error as exc:
        raise FormInvalid([f"line 1: {exc}"]) from None
    names = [ALIASES.get(h.strip().lower(), h.strip().lower()) for h in header]
    unknown = [h for h in names if h not in COLUMNS]
    if unknown or "query" not in names:
        wanted = ", ".join(COLUMNS)
        problem = f"unknown column(s) {', '.join(map(repr, unknown))}" if unknown else "no 'query' column"
        raise FormInvalid([f"line 1: {problem}; the header names columns from: {wanted}"])

    def rows() -> Iterator[tuple[int, Any]]:
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield reader.line_num, _Bad(str(exc))
                continue
            if not any(v.strip() for v in values):
                continue
            if len(values) != len(names):
                yield reader.line_num, _Bad(f"{len(values)} fields, the header has {len(names)}")
                continue
            row: dict[str, Any] = dict(zip(names, values, strict=True))
            if "tags" in row:
                row["tags"] = [t.strip() for t in row["tags"].split(";") if t.strip()]
            yield reader.line_num, row

    return _validated(rows())


class _Bad:
    def __init__(self, reason: str):
        self.reason = reason


def _validated(rows: Iterable[tuple[int, Any]]) -> list[ItemIn]:
    items: list[ItemIn] = []
    problems: list[str] = []
    for count, (number, row) in enumerate(rows, start=1):
        if count > MAX_ITEMS:
            raise FormInvalid(
                [f"more than {MAX_ITEMS:,} items (the most a dataset holds): stopped reading at line {number}"]
            )
        if isinstance(row, _Bad):
            problems.append(f"line {number}: {row.reason}")
            continue
        if isinstance(row, dict):
            row = {ALIASES.get(k, k): v for k, v in row.items()}
            if isinstance(row.get("tags"), str):
                row["tags"] = [t.strip() for t in row["tags"].split(";") if t.strip()]
        try:
            items.append(ItemIn.model_validate(row))
        except ValidationError as exc:
            problems.append(f"line {number}: {_reason(row, exc)}")
    if problems:
        raise FormInvalid.for_lines(problems, MAX_LINE_ERRORS)
    return items


def _reason(row: Any, exc: ValidationError) -> str:
    if not isinstance(row, dict):
        return 'each line must be a JSON object like {"query": "...", "reference": "..."}'
    if unknown := sorted(set(row) - set(COLUMNS)):
        return f"unknown key(s) {', '.join(map(repr, unknown))}: use {', '.join(COLUMNS)}"
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    if first["type"] == "missing":
        return f"missing {where!r}"
    if first["type"] == "string_too_short":
        return f"{where!r} is empty"
    return f"{where!r}: {first['msg']}"


def to_jsonl(items: Iterable[Any]) -> str:
    """One object per item, the same shape the import takes."""
    return "".join(
        json.dumps(
            {
                "query": i.query,
                "reference": i.reference,
                "tags": list(i.tags),
                "expected_source": i.expected_source,
            },
            ensure_ascii=False,
        )
        + "\n"
        for i in items
    )


def to_csv(items: Iterable[Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for i in items:
        writer.writerow([safe_cell(v) for v in (i.query, i.reference, ";".join(i.tags), i.expected_source)])
    return buffer.getvalue()
