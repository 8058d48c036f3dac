"""SQLAlchemy's aiosqlite adapter with one trip to the driver's thread per statement instead of four.

aiosqlite runs each SQLite connection on a thread of its own; every call crosses to it and back. SQLAlchemy's
adapter makes four such calls per statement (open a cursor, execute, fetch the rows, close the cursor), and
the crossings, not SQLite, were most of the time a statement took: 530 us a primary-key read against 50 us
for the same read on the plain driver (measured on 2 cores). Here the cursor is opened, executed, read and
closed inside one call on the driver's thread, so a statement costs one crossing. Everything else, server-side
cursors (streamed results) included, is SQLAlchemy's and aiosqlite's own; `create_engine(..., module=...)`
is SQLAlchemy's documented way to hand a dialect another DBAPI module.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT, await_only


def _execute_and_read(
    connection: aiosqlite.Connection, operation: str, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """Runs on the connection's own thread: the whole statement, rows and all."""
    cursor = connection._conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor whose statement, rows and metadata come back from the driver's thread in one call."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any):
        # No driver cursor is opened here (that was a trip of its own): each execute opens and closes one.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1  # the DBAPI's default: what fetchmany() without a size takes

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    async def _async_soft_close(self) -> None:
        """Nothing to close: the rows are already here."""

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> Any:
        return await self._run(operation, parameters, many=False)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> Any:
        return await self._run(operation, seq_of_parameters, many=True)

    async def _run(self, operation: Any, parameters: Any, *, many: bool) -> None:
        async with self._adapt_connection._execute_mutex:
            description, rows, rowcount, lastrowid = await self._connection._execute(
                _execute_and_read, self._connection, operation, parameters, many
            )
        self._description, self._rowcount, self._lastrowid = description, rowcount, lastrowid
        self._rows = deque(rows)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite as SQLAlchemy's aiosqlite dialect sees it, handing out one-trip connections."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        connection = self.aiosqlite.connect(*arg, **kw)
        # As SQLAlchemy's own adapter does: the driver's thread must not keep the process alive.
        connection._thread.daemon = True
        return OneTripConnection(self, await_only(connection))


def one_trip_dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)
