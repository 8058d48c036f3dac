"""live answers: a running output can be asked to stop (from any process); review queues can hold blind answers
back until all are in

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outputs") as batch:
        batch.add_column(sa.Column("stop_requested_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("review_queues") as batch:
        batch.add_column(sa.Column("reveal_together", sa.Boolean(), nullable=False, server_default=sa.true()))


def downgrade() -> None:
    with op.batch_alter_table("review_queues") as batch:
        batch.drop_column("reveal_together")
    with op.batch_alter_table("outputs") as batch:
        batch.drop_column("stop_requested_at")
