"""background jobs on procrastinate's queue (PostgreSQL only: SQLite runs jobs in process); outputs carry a
lease, so only outputs whose owning process is gone are marked interrupted

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# procrastinate's own tables, for the downgrade (its schema.sql creates these, plus functions and types).
PROCRASTINATE_TABLES = ("procrastinate_events", "procrastinate_periodic_defers", "procrastinate_jobs", "procrastinate_workers")


def upgrade() -> None:
    with op.batch_alter_table("outputs") as batch:
        # Until when the process that runs this output vouches for it (renewed while it runs).
        batch.add_column(sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    exists = bind.execute(sa.text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar()
    if exists:
        return
    from procrastinate.schema import SchemaManager

    # The library's whole schema for the pinned version (pyproject.toml), in this migration's transaction.
    # Run on the driver's cursor without parameters: the SQL holds literal % signs.
    cursor = bind.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    cursor.execute(SchemaManager.get_schema())
    cursor.close()


# procrastinate's functions and types in this schema, each as its DROP statement names it.
PROCRASTINATE_OBJECTS = (
    ("FUNCTION", "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace "
     "WHERE p.proname LIKE 'procrastinate%' AND n.nspname = current_schema()"),
    ("TYPE", "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
     "WHERE t.typname LIKE 'procrastinate%' AND t.typtype IN ('c', 'e') AND n.nspname = current_schema()"),
)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in PROCRASTINATE_TABLES:
            op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        for kind, query in PROCRASTINATE_OBJECTS:
            for name in list(bind.execute(sa.text(query)).scalars()):
                op.execute(f"DROP {kind} IF EXISTS {name} CASCADE")
    with op.batch_alter_table("outputs") as batch:
        batch.drop_column("lease_until")
