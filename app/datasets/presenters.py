"""Datasets as the API and pages show them."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi.responses import PlainTextResponse

from app.datasets.schemas import DatasetOut, DatasetVersionOut, ItemOut
from app.datasets.service import DatasetSummary
from app.models import DatasetItem


def dataset_out(summary: DatasetSummary, items: Sequence[DatasetItem] | None = None) -> DatasetOut:
    dataset, version = summary.dataset, summary.version
    return DatasetOut(
        id=dataset.id,
        name=dataset.name,
        description=dataset.description,
        version=version.version,
        version_id=version.id,
        format_kind=version.format_kind,
        format_rule=version.format_rule,
        probe_tag=version.probe_tag,
        item_count=summary.item_count,
        versions=[
            DatasetVersionOut(
                id=v.id, version=v.version, item_count=summary.item_counts.get(v.id, 0), created_at=v.created_at
            )
            for v in dataset.versions
        ],
        archived_at=dataset.archived_at,
        created_at=dataset.created_at,
        items=None if items is None else [ItemOut.model_validate(i) for i in items],
    )


def attachment(body: str, media_type: str, filename: str) -> PlainTextResponse:
    """A download the browser saves under `filename`."""
    return PlainTextResponse(
        body, media_type=media_type, headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )
