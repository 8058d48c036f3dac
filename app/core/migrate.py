"""Run Alembic migrations programmatically (the app and CLI call this; never create_all)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from app.core.settings import to_sync_url

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def ours(name: str | None, type_: str, _parents: object) -> bool:
    """Alembic's include_name: the job queue's tables (procrastinate's, created whole by migration 0012 from
    the library's own schema) are not described by our models, and autogenerate must leave them alone."""
    return not (type_ == "table" and (name or "").startswith("procrastinate_"))


def alembic_config(database_url: str) -> Config:
    """An Alembic config pointing at our migrations and the given database."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", to_sync_url(database_url).replace("%", "%%"))
    return cfg


def upgrade_database(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    if database_url.startswith("sqlite"):
        Path(database_url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(database_url), revision)
