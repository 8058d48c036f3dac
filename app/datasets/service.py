"""The datasets' rules: unique names, a checked format rule, and versions frozen once an experiment used them."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.auth import Principal
from app.core.errors import Conflict, Invalid, NotFound
from app.datasets.imports import to_csv, to_jsonl
from app.datasets.repository import DatasetRepository
from app.datasets.schemas import DatasetIn, DatasetPatch, ItemIn
from app.evaluation.format_rules import check_format_rule
from app.models import Dataset, DatasetItem, DatasetVersion


def current(dataset: Dataset) -> DatasetVersion:
    return max(dataset.versions, key=lambda v: v.version)


@dataclass(frozen=True)
class DatasetSummary:
    dataset: Dataset
    version: DatasetVersion
    item_counts: dict[int, int]  # per version id

    @property
    def item_count(self) -> int:
        return self.item_counts.get(self.version.id, 0)


class DatasetService:
    """Datasets as `reader` may read them: items made from a rated comparison (a fine-tune's evaluation items,
    whose references may be corrected answers) are scoped as that comparison is (app/core/readable.py)."""

    def __init__(self, session: AsyncSession, reader: Principal):
        self.session = session
        self.repo = DatasetRepository(session, reader)

    async def list(self, *, include_archived: bool = False) -> list[DatasetSummary]:
        datasets = await self.repo.list(include_archived=include_archived)
        counts = await self.repo.item_counts([v.id for d in datasets for v in d.versions])
        return [DatasetSummary(d, current(d), counts) for d in datasets]

    async def get(self, dataset_id: int) -> Dataset:
        dataset = await self.repo.get(dataset_id)
        if dataset is None:
            raise NotFound(f"dataset {dataset_id} not found")
        return dataset

    async def summary(self, dataset_id: int) -> DatasetSummary:
        dataset = await self.get(dataset_id)
        counts = await self.repo.item_counts([v.id for v in dataset.versions])
        return DatasetSummary(dataset, current(dataset), counts)

    async def by_name(self, name: str) -> Dataset | None:
        return await self.repo.by_name(name)

    async def items(self, version_id: int) -> Sequence[DatasetItem]:
        return await self.repo.items(version_id)

    async def version(self, version_id: int) -> DatasetVersion:
        version = await self.repo.version(version_id)
        if version is None:
            raise NotFound(f"dataset version {version_id} not found")
        return version

    async def export(self, dataset_id: int, fmt: str) -> tuple[str, str, str]:
        """The current version's items as (body, media type, file name), in the format the import takes."""
        summary = await self.summary(dataset_id)
        items = await self.repo.items(summary.version.id)
        body, media = (to_csv(items), "text/csv") if fmt == "csv" else (to_jsonl(items), "application/x-ndjson")
        return body, media, f"dataset-{dataset_id}-v{summary.version.version}.{fmt}"

    async def create(self, data: DatasetIn, *, lineage: Sequence[int | None] = ()) -> Dataset:
        """A new dataset; `lineage` gives each item the rated comparison its reference came from, if any."""
        if await self.repo.by_name(data.name) is not None:
            raise Conflict(f"a dataset named {data.name!r} already exists")
        await _check_rule(data.format_kind, data.format_rule)
        dataset = Dataset(name=data.name, description=data.description)
        dataset.versions.append(
            DatasetVersion(
                version=1,
                format_kind=data.format_kind,
                format_rule=data.format_rule if data.format_kind else "",
                probe_tag=data.probe_tag,
                items=_rows(data.items, lineage),
            )
        )
        self.repo.add(dataset)
        await self.session.flush()
        return await self.get(dataset.id)

    async def update(self, dataset_id: int, data: DatasetPatch) -> Dataset:
        """Rename freely; new items or a new rule edit the current version, or add one if an experiment used it."""
        dataset = await self.get(dataset_id)
        if data.name is not None and data.name != dataset.name and await self.repo.by_name(data.name):
            raise Conflict(f"a dataset named {data.name!r} already exists")
        version = current(dataset)
        kind = version.format_kind if data.format_kind is None else data.format_kind
        rule = version.format_rule if data.format_rule is None else data.format_rule
        rule = rule if kind else ""
        probe_tag = version.probe_tag if data.probe_tag is None else data.probe_tag
        await _check_rule(kind, rule)
        if data.name is not None:
            dataset.name = data.name
        if data.description is not None:
            dataset.description = data.description
        changes_content = data.items is not None or (kind, rule, probe_tag) != (
            version.format_kind,
            version.format_rule,
            version.probe_tag,
        )
        if changes_content:
            items = _rows(data.items) if data.items is not None else _copies(await self.repo.items(version.id))
            if await self.repo.version_is_used(version.id):
                dataset.versions.append(
                    DatasetVersion(
                        version=version.version + 1,
                        format_kind=kind,
                        format_rule=rule,
                        probe_tag=probe_tag,
                        items=items,
                    )
                )
            else:
                loaded = await self.repo.version(version.id)
                assert loaded is not None
                loaded.format_kind, loaded.format_rule, loaded.probe_tag = kind, rule, probe_tag
                loaded.items = items
        await self.session.flush()
        self.session.expunge_all()
        return await self.get(dataset_id)

    async def archive(self, dataset_id: int) -> Dataset:
        dataset = await self.get(dataset_id)
        await self.repo.archive(dataset)
        return dataset


async def _check_rule(kind: str, rule: str) -> None:
    if kind and not rule.strip():
        raise Invalid(f"format_rule: a {kind} rule needs a rule")
    # Checking a 20,000-character JSON Schema against its meta-schema can take a few hundred ms: off the loop.
    if problem := await asyncio.to_thread(check_format_rule, kind, rule):
        raise Invalid(f"format_rule: {problem}")


def _rows(items: Sequence[ItemIn], lineage: Sequence[int | None] = ()) -> list[DatasetItem]:
    return [
        DatasetItem(
            position=i,
            query=item.query,
            reference=item.reference,
            tags=list(dict.fromkeys(item.tags)),
            expected_source=item.expected_source,
            comparison_id=lineage[i] if i < len(lineage) else None,
        )
        for i, item in enumerate(items)
    ]


def _copies(items: Sequence[DatasetItem]) -> list[DatasetItem]:
    return [
        DatasetItem(
            position=i.position,
            query=i.query,
            reference=i.reference,
            tags=list(i.tags),
            expected_source=i.expected_source,
            comparison_id=i.comparison_id,
        )
        for i in items
    ]
