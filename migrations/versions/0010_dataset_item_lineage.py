"""dataset items keep the rated comparison their reference came from (the blind rule scopes them by it);
outputs.cached_from_id is indexed (deleting an output looked for the answers cached from it in every row);
ratings are indexed by comparison and ranking (the leaderboard's bootstrap draws comparisons)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Fine-tune evaluation datasets made before this revision: each item whose query and reference are a
# validation row of the job's training set takes that row's comparison. (Plain SQL that SQLite and
# PostgreSQL both run; items of other datasets have no such row and stay without lineage.)
BACKFILL = """
UPDATE dataset_items SET comparison_id = (
    SELECT MIN(te.comparison_id)
    FROM training_examples te
    JOIN finetune_jobs j ON j.training_set_id = te.training_set_id
    JOIN dataset_versions dv ON dv.dataset_id = j.evaluation_dataset_id
    WHERE dv.id = dataset_items.dataset_version_id
      AND te.comparison_id IS NOT NULL
      AND te.prompt = dataset_items.query
      AND te.completion = dataset_items.reference
)
WHERE comparison_id IS NULL
"""


def upgrade() -> None:
    with op.batch_alter_table("dataset_items") as batch:
        batch.add_column(sa.Column("comparison_id", sa.Integer(), nullable=True))
    op.execute(BACKFILL)
    op.create_index(op.f("ix_outputs_cached_from_id"), "outputs", ["cached_from_id"])
    op.create_index("ix_ratings_comparison_ranks", "ratings", ["comparison_id", "variant_ranks"])


def downgrade() -> None:
    op.drop_index("ix_ratings_comparison_ranks", table_name="ratings")
    op.drop_index(op.f("ix_outputs_cached_from_id"), table_name="outputs")
    with op.batch_alter_table("dataset_items") as batch:
        batch.drop_column("comparison_id")
