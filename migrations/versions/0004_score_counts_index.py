"""index rating scores by output, dimension and score (the leaderboard's group-by reads only the index)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 03:05:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_rating_scores_output_dimension_score", "rating_scores", ["output_id", "dimension", "score"]
    )


def downgrade() -> None:
    op.drop_index("ix_rating_scores_output_dimension_score", table_name="rating_scores")
