"""What every repository shares, written once (polar's RepositoryBase and its soft-deletion mixin).

- `RepositoryBase[M]`: the base statement (with the loader options a repository always wants), get by id,
  get by name, list, add.
- `SoftDeletionMixin`: rows are archived, never deleted (answers keep pointing at them): lists and
  `get_active` see only live rows unless asked, and `archive` is idempotent.
- `update_by_id`: many rows, each with values of its own, in one executemany per set of columns.
Readable statements (who may read which rows: app/core/readable.py) live in the repositories whose rows a
blind rater must not see, on top of these.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, Select, Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.models import utcnow


class _Row(Protocol):
    id: Any


class _Archivable(_Row, Protocol):
    archived_at: datetime | None


M = TypeVar("M", bound=Any)


class RepositoryBase(Generic[M]):
    """One model's rows: `model` names it; `loads` are loader options every read applies."""

    model: ClassVar[type[Any]]
    loads: ClassVar[tuple[Any, ...]] = ()

    def __init__(self, session: AsyncSession):
        self.session = session

    def base_statement(self) -> Select[M]:
        """Every row of the model, with its loads; subclasses narrow it (live rows, readable rows)."""
        return select(self.model).options(*self.loads)

    def add(self, obj: Any) -> None:
        self.session.add(obj)

    async def get(self, row_id: int) -> M | None:
        """The row with this id, archived or not."""
        return await self.session.scalar(select(self.model).options(*self.loads).where(self.model.id == row_id))

    async def by_name(self, name: str) -> M | None:
        """The row with this unique name, archived or not (names stay taken)."""
        name_column: InstrumentedAttribute[str] = self.model.name
        return await self.session.scalar(select(self.model).where(name_column == name))

    def ordering(self) -> tuple[Any, ...]:
        """How lists are ordered: oldest first, unless the repository says otherwise."""
        return (self.model.id,)

    async def list(self) -> Sequence[M]:
        """Every row the base statement gives, in list order."""
        return (await self.session.scalars(self.base_statement().order_by(*self.ordering()))).all()


class SoftDeletionMixin(RepositoryBase[M]):
    """Archived rows stay (stored answers point at them) but leave lists and new work."""

    def live(self, stmt: Select[Any]) -> Select[Any]:
        """`stmt` without archived rows."""
        return stmt.where(self.model.archived_at.is_(None))

    async def list(self, *, include_archived: bool = False) -> Sequence[M]:
        stmt = self.base_statement() if include_archived else self.live(self.base_statement())
        return (await self.session.scalars(stmt.order_by(*self.ordering()))).all()

    async def get_active(self, row_id: int) -> M | None:
        """The row if it exists and is not archived."""
        found = await self.get(row_id)
        return found if found is not None and is_active(found) else None

    async def archive(self, obj: _Archivable) -> None:
        """Archive once: archiving again keeps the first moment."""
        obj.archived_at = obj.archived_at or utcnow()
        await self.session.flush()


def is_active(obj: Any) -> bool:
    """Not archived."""
    return getattr(obj, "archived_at", None) is None


async def update_by_id(
    session: AsyncSession,
    table: Table,
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    *conditions: ColumnElement[bool],
) -> None:
    """Write (row id, values) pairs, rows that are given the same columns together in one executemany on the
    Core table (the ORM's bulk update would go row by row); `conditions` narrow which rows may change."""
    shapes: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row_id, values in rows:
        params = {"row_id": row_id, **{f"v_{c}": v for c, v in values.items()}}
        shapes.setdefault(tuple(sorted(values)), []).append(params)
    for columns, params_list in shapes.items():
        stmt = (
            update(table)
            .where(table.c.id == bindparam("row_id"), *conditions)
            .values({c: bindparam(f"v_{c}") for c in columns})
        )
        await session.execute(stmt, params_list)
