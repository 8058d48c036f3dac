"""Engine, the one session factory, and the unit of work's failure mark (app.core.deps owns the transaction)."""

from __future__ import annotations

import asyncio
import select as io_select
import time
from typing import Any

from sqlalchemy import event, select, update
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only
from starlette.requests import Request

from app.core.sqlite_driver import one_trip_dbapi

_DML = ("INSERT", "UPDATE", "DELETE", "REPLACE")
BUSY_TIMEOUT_S = 30
# A pooled connection idle longer than this is pinged before use (see ping_when_in_doubt).
IDLE_PING_S = 10.0


def serialize_writers(engine: AsyncEngine) -> None:
    """SQLite has one writer at a time. Left to SQLite, writers that find the database locked sleep and retry
    (its busy handler backs off up to 100 ms a try): 8 raters posting at once waited up to 1.9 s. Here a
    write transaction instead queues, first come first served, on one asyncio lock per engine, taken before
    its first write and given back when its connection returns to the pool (after the commit or rollback):
    no sleeping, and never two writers of this process at the database at once. (A second process on the
    same file still meets SQLite's busy handler; the embedded default is one process.) The event handlers
    run inside SQLAlchemy's greenlet on the event loop, so they can await the lock (`await_only`)."""
    lock = asyncio.Lock()

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def _queue_for_the_write_lock(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        info = conn.connection.info  # the pooled connection's own: it outlives this Connection object
        if info.get("writes") or not statement.lstrip().upper().startswith(_DML):
            return
        # As long as SQLite's own busy timeout: a writer that never finishes fails the others, as before.
        await_only(asyncio.wait_for(lock.acquire(), BUSY_TIMEOUT_S))
        info["writes"] = True

    def _release(_dbapi_conn: Any, record: Any) -> None:
        if record is not None and record.info.pop("writes", False):
            lock.release()

    for name in ("checkin", "invalidate", "soft_invalidate"):
        event.listen(engine.sync_engine.pool, name, _release)


def _readable(fd: int) -> bool:
    """Whether a socket has something to read, without waiting (poll: select() refuses fds above 1023)."""
    poller = io_select.poll()
    poller.register(fd, io_select.POLLIN)
    return bool(poller.poll(0))


def ping_when_in_doubt(engine: AsyncEngine, idle_s: float = IDLE_PING_S) -> None:
    """Check a pooled connection before use only when there is reason to doubt it. SQLAlchemy's pre-ping asks
    the server on every checkout: a round trip (psycopg's `;`) in each of the three or four transactions of a
    comparison. Here the connection is replaced without asking when the driver knows it is closed or broken,
    and pinged when it sat idle longer than `idle_s` (a firewall or the server's idle timeout may have cut it
    without a word) or when its socket has something to read while nobody asked (a server going down tells
    its clients so, then closes: a restart). Otherwise it is used as is."""

    @event.listens_for(engine.sync_engine.pool, "checkin")
    def _idle_from_now(_dbapi_conn: Any, record: Any) -> None:
        if record is not None:
            record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine.pool, "checkout")
    def _check(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        driver = record.driver_connection
        if driver.closed or driver.broken:
            raise DisconnectionError("the server closed this connection")
        idle_since = record.info.get("idle_since")
        if idle_since is None:  # new: just connected
            return
        if time.monotonic() - idle_since < idle_s and not _readable(driver.fileno()):
            return
        try:
            engine.dialect.do_ping(dbapi_conn)
        except Exception as exc:  # the pool connects anew (DisconnectionError) and tries again
            raise DisconnectionError(f"a pooled connection did not answer: {exc}") from exc


def create_engine(url: str) -> AsyncEngine:
    """Create the async engine; SQLite gets WAL, a busy timeout (for another process on the same file) and
    one queue for this process's writers (serialize_writers)."""
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": BUSY_TIMEOUT_S}, module=one_trip_dbapi())
        serialize_writers(engine)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            # WAL + NORMAL: a process crash loses nothing committed; only an OS crash could lose the last commits.
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=20)
    ping_when_in_doubt(engine)
    return engine


async def database_answers(engine: AsyncEngine) -> None:
    """Raises unless the database answers a trivial query (readiness)."""
    async with engine.connect() as conn:
        await conn.execute(select(1))


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions keep loaded attributes after commit, so services can return what they wrote."""
    return async_sessionmaker(engine, expire_on_commit=False)


def create_lookup_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for the one-row lookup a request starts with (who is asking), where each statement may be its
    own transaction: on PostgreSQL they run in autocommit, so the lookup is one round trip instead of three
    (BEGIN, SELECT, COMMIT; measured about 0.8 ms of CPU a transaction through SQLAlchemy and psycopg).
    SQLite's driver only begins a transaction before a write, so its sessions stay as they are."""
    if engine.dialect.name == "postgresql":
        engine = engine.execution_options(isolation_level="AUTOCOMMIT")
    return create_session_factory(engine)


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
    # Nothing in the session changes: no need for the ORM to find and refresh loaded objects.
    touch_row = update(model).where(model.id == row_id).values({touch: touch})
    result = await session.execute(touch_row.execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))
