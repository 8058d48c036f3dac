"""Reading a dataset upload within its size limit, as JSON or multipart, before anything is stored.

Parsing and validating up to `MAX_ITEMS` items is CPU work (tenths of a second): it runs on a worker thread,
so other requests (and /healthz) are answered meanwhile."""

from __future__ import annotations

import json

from fastapi import Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.core.deps import app_state
from app.core.errors import FormInvalid, Invalid, TooLarge
from app.datasets.imports import parse_items
from app.datasets.schemas import DatasetIn, ItemIn

READ_CHUNK = 1024 * 1024


def upload_limit(request: Request) -> int:
    """The largest dataset file accepted, in bytes (the ingest file limit)."""
    return int(app_state(request).settings.ingest_max_file_mb) * 1024 * 1024


async def read_limited(upload: UploadFile, max_bytes: int) -> bytes:
    """The file's bytes; a file over the limit is refused without reading it all. The upload is closed
    (its spooled temporary file released) either way."""
    data = bytearray()
    try:
        while chunk := await upload.read(READ_CHUNK):
            data.extend(chunk)
            if len(data) > max_bytes:
                raise TooLarge(f"file: larger than {max_bytes // (1024 * 1024)} MB")
    finally:
        await upload.close()
    return bytes(data)


async def items_from_upload(request: Request, upload: UploadFile) -> list[ItemIn]:
    """The items of an uploaded CSV or JSONL file, read within the size limit and parsed off the event loop."""
    data = await read_limited(upload, upload_limit(request))
    return await run_in_threadpool(parse_items, upload.filename or "", data)


async def dataset_from_request(request: Request) -> DatasetIn:
    """JSON `{"name", "items", ...}`, or multipart with a CSV/JSONL `file` plus `name` (and optionally
    `description`, `format_kind`, `format_rule`)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        # Closing the form releases every uploaded part's spooled file, whatever goes wrong.
        async with request.form() as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise Invalid("file: send the items as a CSV or JSONL file in the field 'file'")
            items = await items_from_upload(request, upload)
            fields = {
                k: v
                for k in ("name", "description", "format_kind", "format_rule", "probe_tag")
                if isinstance(v := form.get(k), str)
            }
        # Validated items are taken as they are, not validated again.
        return _validated(fields | {"items": items})
    if content_type != "application/json":
        raise Invalid("send application/json or multipart/form-data")
    return await run_in_threadpool(_from_json, await request.body())


def _from_json(body: bytes) -> DatasetIn:
    try:
        parsed = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise Invalid(f"the body is not valid JSON: {exc}") from None
    return _validated(parsed)


def _validated(body: object) -> DatasetIn:
    try:
        return DatasetIn.model_validate(body)
    except ValidationError as exc:
        raise FormInvalid(
            [f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors()[:20]]
        ) from None
