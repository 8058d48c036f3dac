"""REST: datasets (create from JSON or a CSV/JSONL upload, list, show, edit, export, archive)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request, status
from fastapi.responses import Response

from app.accounts.auth import ApiAdmin, ApiUser
from app.core.api_errors import API_ERRORS, errors, inline_schema
from app.core.types import Id
from app.datasets.deps import DatasetsDep
from app.datasets.presenters import attachment, dataset_out
from app.datasets.schemas import DatasetIn, DatasetOut, DatasetPatch
from app.datasets.uploads import dataset_from_request

router = APIRouter(prefix="/api/v1", responses=API_ERRORS)

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": inline_schema(DatasetIn)},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["name", "file"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 120},
                        "description": {"type": "string", "maxLength": 2000},
                        "format_kind": {"type": "string", "enum": ["", "regex", "json_schema"]},
                        "format_rule": {"type": "string", "maxLength": 20000},
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV (header: query, reference, tags, expected_source) or JSONL",
                        },
                    },
                }
            },
        },
    }
}


@router.get("/datasets", response_model=list[DatasetOut])
async def list_datasets(_user: ApiUser, datasets: DatasetsDep, include_archived: bool = False) -> list[DatasetOut]:
    return [dataset_out(s) for s in await datasets.list(include_archived=include_archived)]


@router.post(
    "/datasets",
    response_model=DatasetOut,
    status_code=status.HTTP_201_CREATED,
    responses=errors(409, 413),
    openapi_extra=_UPLOAD_BODY,
)
async def create_dataset(request: Request, _user: ApiAdmin, datasets: DatasetsDep) -> DatasetOut:
    """Create from JSON with `items`, or from a multipart `file` (CSV or JSONL) plus `name`. A bad line is
    refused with its line number and nothing is stored."""
    dataset = await datasets.create(await dataset_from_request(request))
    return await _out(datasets, dataset.id)


@router.get("/datasets/{dataset_id}", response_model=DatasetOut)
async def get_dataset(dataset_id: Id, _user: ApiUser, datasets: DatasetsDep) -> DatasetOut:
    return await _out(datasets, dataset_id)


@router.patch("/datasets/{dataset_id}", response_model=DatasetOut, responses=errors(409))
async def update_dataset(dataset_id: Id, body: DatasetPatch, _user: ApiAdmin, datasets: DatasetsDep) -> DatasetOut:
    """Edit; new items or a new format rule make a new version once an experiment has run the current one."""
    await datasets.update(dataset_id, body)
    return await _out(datasets, dataset_id)


@router.get(
    "/datasets/{dataset_id}/export",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}, "description": "The download"}},
)
async def export_dataset(
    dataset_id: Id, _user: ApiUser, datasets: DatasetsDep, format: Literal["jsonl", "csv"] = "jsonl"
) -> Response:
    """The current version's items in the format the import takes."""
    return attachment(*await datasets.export(dataset_id, format))


@router.delete("/datasets/{dataset_id}", response_model=DatasetOut)
async def archive_dataset(dataset_id: Id, _user: ApiAdmin, datasets: DatasetsDep) -> DatasetOut:
    await datasets.archive(dataset_id)
    return await _out(datasets, dataset_id)


async def _out(datasets: DatasetsDep, dataset_id: int) -> DatasetOut:
    summary = await datasets.summary(dataset_id)
    return dataset_out(summary, await datasets.items(summary.version.id))
