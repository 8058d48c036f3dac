"""HTML pages for datasets: list, show (items and versions), create or edit (JSONL text or a CSV/JSONL file)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from app.accounts.auth import UiAdmin, UiUser
from app.core.errors import DomainError
from app.core.types import Id
from app.core.web import form_error_page, form_values, redirect_to, render
from app.datasets.deps import DatasetsDep
from app.datasets.imports import parse_jsonl, to_jsonl
from app.datasets.presenters import attachment, dataset_out
from app.datasets.schemas import DatasetIn, DatasetPatch, ItemIn
from app.datasets.uploads import items_from_upload

router = APIRouter()
FIELDS = ("name", "description", "format_kind", "format_rule", "probe_tag", "items")
FORM = "pages/dataset_form.html"


@router.get("/datasets", name="datasets_page", response_class=HTMLResponse)
async def datasets_page(request: Request, _user: UiUser, datasets: DatasetsDep) -> HTMLResponse:
    return render(request, "pages/datasets.html", {"datasets": [dataset_out(s) for s in await datasets.list()]})


@router.get("/datasets/new", name="new_dataset_page", response_class=HTMLResponse)
async def new_dataset_page(request: Request, _user: UiUser) -> HTMLResponse:
    return render(request, FORM, {"values": {}, "dataset": None})


async def _items_from_form(request: Request, values: dict[str, Any]) -> list[ItemIn]:
    """An uploaded file wins over the text box; either way a bad line names its number."""
    form = await request.form()
    try:
        upload = form.get("file")
        if isinstance(upload, UploadFile) and upload.filename:
            return await items_from_upload(request, upload)
        # Off the event loop, as uploads are: a pasted 10,000-line list takes a while to parse.
        return await run_in_threadpool(parse_jsonl, values.get("items", ""))
    finally:
        await form.close()  # every uploaded part's spooled file, read or not


@router.post("/datasets", name="create_dataset_ui", response_model=None)
async def create_dataset(request: Request, _user: UiAdmin, datasets: DatasetsDep) -> Response:
    values = await form_values(request, FIELDS)
    try:
        items = await _items_from_form(request, values)
        data = DatasetIn.model_validate({k: v for k, v in values.items() if k != "items"} | {"items": items})
        dataset = await datasets.create(data)
    except (ValidationError, DomainError) as exc:
        return form_error_page(request, FORM, exc, {"values": values, "dataset": None})
    return redirect_to(request, "dataset_page", dataset_id=dataset.id)


@router.get("/datasets/{dataset_id}", name="dataset_page", response_class=HTMLResponse)
async def dataset_page(request: Request, dataset_id: Id, _user: UiUser, datasets: DatasetsDep) -> HTMLResponse:
    summary = await datasets.summary(dataset_id)
    dataset = dataset_out(summary, await datasets.items(summary.version.id))
    return render(request, "pages/dataset.html", {"dataset": dataset})


@router.get("/datasets/{dataset_id}/edit", name="edit_dataset_page", response_class=HTMLResponse)
async def edit_dataset_page(
    request: Request, dataset_id: Id, _user: UiUser, datasets: DatasetsDep
) -> HTMLResponse:
    summary = await datasets.summary(dataset_id)
    dataset = dataset_out(summary)
    values = dataset.model_dump(include={"name", "description", "format_kind", "format_rule", "probe_tag"}) | {
        "items": to_jsonl(await datasets.items(summary.version.id))
    }
    return render(request, FORM, {"values": values, "dataset": dataset})


@router.post("/datasets/{dataset_id}", name="update_dataset_ui", response_model=None)
async def update_dataset(request: Request, dataset_id: Id, _user: UiAdmin, datasets: DatasetsDep) -> Response:
    values = await form_values(request, FIELDS)
    try:
        items = await _items_from_form(request, values)
        patch = {k: v for k, v in values.items() if k != "items"} | {"items": items}
        await datasets.update(dataset_id, DatasetPatch.model_validate(patch))
    except (ValidationError, DomainError) as exc:
        dataset = dataset_out(await datasets.summary(dataset_id))
        return form_error_page(request, FORM, exc, {"values": values, "dataset": dataset})
    return redirect_to(request, "dataset_page", dataset_id=dataset_id)


@router.get("/datasets/{dataset_id}/export", name="export_dataset_ui", response_model=None)
async def export_dataset(
    dataset_id: Id, _user: UiUser, datasets: DatasetsDep, format: Literal["jsonl", "csv"] = "jsonl"
) -> Response:
    return attachment(*await datasets.export(dataset_id, format))


@router.post("/datasets/{dataset_id}/archive", name="archive_dataset_ui", response_model=None)
async def archive_dataset(request: Request, dataset_id: Id, _user: UiAdmin, datasets: DatasetsDep) -> Response:
    await datasets.archive(dataset_id)
    return redirect_to(request, "datasets_page")
