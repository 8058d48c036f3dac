"""Engine, the one session factory, and the unit of work's failure mark (app.core.deps owns the transaction)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from starlette.requests import Request


def create_engine(url: str) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL and a busy timeout so concurrent writers wait, not fail."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=30000")
            # WAL + NORMAL: a process crash loses nothing committed; only an OS crash could lose the last commits.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_async_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions keep loaded attributes after commit, so services can return what they wrote."""
    return async_sessionmaker(engine, expire_on_commit=False)


SessionFactory = async_sessionmaker[AsyncSession]
_FAILED = "unit_of_work_failed"


def fail_unit_of_work(request: Request) -> None:
    """The route is answering with an error: roll its transaction back even though it returns normally."""
    setattr(request.state, _FAILED, True)


def unit_of_work_failed(request: Request) -> bool:
    return bool(getattr(request.state, _FAILED, False))


async def hold_row(
    session: AsyncSession, model: Any, row_id: int, *, touch: Any, lock: str = "update"
) -> bool:
    """Hold one row until the transaction ends. PostgreSQL locks it: `lock` "update" (FOR UPDATE), "no key
    update" (FOR NO KEY UPDATE: others may still add rows that reference it) or "share" (FOR SHARE). SQLite has
    no row locks: a no-op write of column `touch` takes its database write lock before anything is read.
    Whether the row exists once held (a concurrent delete may have won)."""
    if session.get_bind().dialect.name == "postgresql":
        stmt = select(model.id).where(model.id == row_id)
        stmt = stmt.with_for_update(read=lock == "share", key_share=lock == "no key update")
        return await session.scalar(stmt) is not None
    result = await session.execute(update(model).where(model.id == row_id).values({touch: touch}))
    return bool(getattr(result, "rowcount", 0))
