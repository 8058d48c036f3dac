"""training sets can carry each row a second time with retrieved sources (for the hybrid)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 17:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("training_sets") as batch:
        batch.add_column(sa.Column("knowledge_base_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("top_k", sa.Integer(), server_default="3", nullable=False))
        batch.create_foreign_key(
            op.f("fk_training_sets_knowledge_base_id_knowledge_bases"),
            "knowledge_bases",
            ["knowledge_base_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("training_sets") as batch:
        batch.drop_constraint(op.f("fk_training_sets_knowledge_base_id_knowledge_bases"), type_="foreignkey")
        batch.drop_column("top_k")
        batch.drop_column("knowledge_base_id")
