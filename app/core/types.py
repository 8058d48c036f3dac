"""Shared input and output types: the bounds every route and schema uses, defined once.

- `Id`: a row id fits the id columns, PostgreSQL's INTEGER (32 bits; SQLite's are 64): anything larger is
  refused as input (422) before the database sees it (it would raise, a 500).
- Text: NUL bytes (PostgreSQL refuses them) and lone surrogates (not encodable as UTF-8) are refused in any
  text, in bodies (`Strict` models), query strings, paths and forms (`reject_bad_text`).
- Nesting: a JSON body deeper than `MAX_JSON_DEPTH` is refused before it is parsed (`JsonDepthLimit`), and a
  `Strict` model refuses a value nested deeper too, however it was built.
- Datetimes: every one in an answer is time-zone aware UTC (`...Z`); SQLite hands back naive values.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

import annotated_types
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    StringConstraints,
    field_validator,
)
from starlette.datastructures import UploadFile

from app.core.nesting import MAX_JSON_DEPTH, TOO_DEEP

MAX_ID = 2**31 - 1
Id = Annotated[int, annotated_types.Ge(1), annotated_types.Le(MAX_ID)]
# Page numbers and offsets: far beyond any real table, far below an overflow.
PageNumber = Annotated[int, annotated_types.Ge(1), annotated_types.Le(1_000_000)]
Offset = Annotated[int, annotated_types.Ge(0), annotated_types.Le(10**12)]


def text_problem(value: str) -> str | None:
    """Why `value` cannot be stored as text, or None."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return None


def _check_tree(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        if (problem := text_problem(value)) is not None:
            raise ValueError(f"text {problem}")
    elif isinstance(value, list | tuple | set | dict):
        # Refused long before Python's recursion limit: a deep value is a 422, never a RecursionError.
        if depth >= MAX_JSON_DEPTH:
            raise ValueError(TOO_DEEP)
        if isinstance(value, dict):
            for key, item in value.items():
                _check_tree(key, depth + 1)
                _check_tree(item, depth + 1)
        else:
            for item in value:
                _check_tree(item, depth + 1)
    return value


class Strict(BaseModel):
    """Request bodies: unknown fields refused, no NUL or lone surrogate in any text, no deep nesting."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return _check_tree(value)


def as_utc(moment: datetime) -> datetime:
    """The moment in UTC; a naive one (SQLite hands them back so) is taken as UTC. A moment at the very edge
    of the calendar (9999-12-31T23:59-01:00) has no UTC form: that is invalid input, not a crash."""
    try:
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date is out of range once converted to UTC") from None


# In answers: serialised as 2026-12-01T10:00:00Z.
UtcDateTime = Annotated[datetime, AfterValidator(as_utc)]


ISO_DATE_START = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_only(value: Any) -> Any:
    """Pydantic would read 0.5 or "1700000000" as seconds since 1970: a filter date must look like one."""
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not ISO_DATE_START.match(value):
        raise ValueError("must be an ISO 8601 date or date-time, like 2026-11-01 or 2026-11-01T09:30:00Z")
    return value


# In filters: an ISO date or date-time (a bare number is not a date), read as UTC when it names no zone.
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only), AfterValidator(as_utc)]


def _bad_text_error(where: str, name: str, problem: str) -> RequestValidationError:
    return RequestValidationError(
        [{"type": "value_error", "loc": (where, name), "msg": f"Value error, text {problem}"}]
    )


async def reject_bad_text(request: Request) -> AsyncIterator[None]:
    """A global dependency: NUL bytes and lone surrogates in the path, the query string or a form are a 422,
    before any route code (or the database) sees them. JSON bodies are checked by `Strict`. A form it read is
    closed when the request is done, whoever else reads it (an uploaded part is a spooled temporary file, and
    a request refused before its route runs must not leave one open)."""
    for where, values in (("path", request.path_params.items()), ("query", request.query_params.multi_items())):
        for name, value in values:
            if isinstance(value, str) and (problem := text_problem(value)) is not None:
                raise _bad_text_error(where, name, problem)
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        yield
        return
    form = await request.form()
    try:
        for name, value in form.multi_items():
            text = value.filename or "" if isinstance(value, UploadFile) else value
            if (problem := text_problem(name) or text_problem(text)) is not None:
                raise _bad_text_error("body", name, problem)
        yield
    finally:
        await form.close()


# A name people give a thing (an endpoint, a variant, a knowledge base): one line, trimmed.
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
