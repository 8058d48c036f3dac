"""comparison sessions: a conversation with several variants at once, each turn a comparison

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "comparison_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("variant_version_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comparison_sessions")),
    )
    with op.batch_alter_table("comparisons") as batch:
        batch.add_column(sa.Column("session_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("turn", sa.Integer(), nullable=False, server_default="0"))
        batch.create_foreign_key(
            "fk_comparisons_session_id_comparison_sessions", "comparison_sessions", ["session_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_index("ix_comparisons_session_id", ["session_id"])
        batch.create_unique_constraint("uq_comparisons_session_id", ["session_id", "turn"])


def downgrade() -> None:
    with op.batch_alter_table("comparisons") as batch:
        batch.drop_constraint("uq_comparisons_session_id", type_="unique")
        batch.drop_index("ix_comparisons_session_id")
        batch.drop_constraint("fk_comparisons_session_id_comparison_sessions", type_="foreignkey")
        batch.drop_column("turn")
        batch.drop_column("session_id")
    op.drop_table("comparison_sessions")
