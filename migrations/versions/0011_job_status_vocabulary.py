"""one status vocabulary for background jobs: experiments and ingestion jobs finish "succeeded" (as fine-tuning
jobs do) instead of "done"; the outputs of comparisons keep pending/done/error (they are not jobs)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The status columns are plain String(20) columns, without a CHECK constraint or an Enum type: only the rows change.
JOB_TABLES = ("experiments", "ingest_jobs")


def _rename(old: str, new: str) -> None:
    for name in JOB_TABLES:
        table = sa.table(name, sa.column("status", sa.String(20)))
        op.execute(table.update().where(table.c.status == old).values(status=new))


def upgrade() -> None:
    _rename("done", "succeeded")


def downgrade() -> None:
    _rename("succeeded", "done")
