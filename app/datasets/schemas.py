"""Request and response bodies for datasets and their items."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.core.types import Name, Strict, UtcDateTime

FormatKind = Literal["", "regex", "json_schema"]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
MAX_ITEMS = 10_000


class ItemIn(Strict):
    query: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=8000)]
    reference: Annotated[str, StringConstraints(strip_whitespace=True, max_length=8000)] = ""
    tags: Annotated[list[Tag], Field(max_length=20)] = []
    # The source name of the document that holds the answer (e.g. "01-vacation.md").
    expected_source: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""


def _items_within_cap(data: Any) -> Any:
    # The list's own limit is checked only after every item is validated: a million items would be first.
    items = data.get("items") if isinstance(data, dict) else None
    if isinstance(items, list) and len(items) > MAX_ITEMS:
        raise ValueError(f"items: more than {MAX_ITEMS:,} (the most a dataset holds)")
    return data


class DatasetIn(Strict):
    name: Name
    description: Annotated[str, Field(max_length=2000)] = ""
    # What every answer should look like: a regular expression (searched in the answer; anchor it with ^...$
    # to demand the whole answer) or a JSON schema the answer must validate against.
    format_kind: FormatKind = ""
    format_rule: Annotated[str, Field(max_length=20_000)] = ""
    # Items carrying this tag are general-knowledge probes (exempt from the format rule; regressions on them
    # are reported). Empty: no probes.
    probe_tag: Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)] = "general"
    items: Annotated[list[ItemIn], Field(max_length=MAX_ITEMS)] = []

    @model_validator(mode="before")
    @classmethod
    def _capped(cls, data: Any) -> Any:
        return _items_within_cap(data)


class DatasetPatch(Strict):
    """Omitted fields stay; new items or a new rule make a new version once an experiment used the current one."""

    name: Name | None = None
    description: Annotated[str | None, Field(max_length=2000)] = None
    format_kind: FormatKind | None = None
    format_rule: Annotated[str | None, Field(max_length=20_000)] = None
    probe_tag: Annotated[str | None, StringConstraints(strip_whitespace=True, max_length=60)] = None
    items: Annotated[list[ItemIn] | None, Field(max_length=MAX_ITEMS)] = None

    @model_validator(mode="before")
    @classmethod
    def _capped(cls, data: Any) -> Any:
        return _items_within_cap(data)


class ItemOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: int
    position: int
    query: str
    reference: str
    tags: list[str]
    expected_source: str


class DatasetVersionOut(BaseModel):
    id: int
    version: int
    item_count: int
    created_at: UtcDateTime


class DatasetOut(BaseModel):
    id: int
    name: str
    description: str
    # The current version: what a new experiment runs.
    version: int
    version_id: int
    format_kind: str
    format_rule: str
    probe_tag: str
    item_count: int
    versions: list[DatasetVersionOut]
    archived_at: UtcDateTime | None
    created_at: UtcDateTime
    # Only on GET /datasets/{id}: the current version's items.
    items: list[ItemOut] | None = None
