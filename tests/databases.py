"""Throwaway databases: a SQLite file, or a PostgreSQL database of its own on the local server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

# The admin connection used to create one throwaway database per use.
PG_ADMIN_URL = os.environ.get("TRIPTYCH_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")


@contextmanager
def blank_database(kind: str, directory: Path) -> Iterator[str]:
    """The async URL of an empty database ("sqlite" in `directory`, or "postgresql"), dropped afterwards."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{directory / 'triptych.db'}"
        return
    name = f"triptych_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base, _, _old = PG_ADMIN_URL.rpartition("/")
        yield f"{base}/{name}".replace("postgresql://", "postgresql+psycopg://", 1)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
