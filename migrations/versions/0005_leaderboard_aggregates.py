"""leaderboard aggregates: score tallies per output and dimension, and a digest on each rating

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 08:40:00
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.rating.repository import rebuild

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "score_tallies",
        sa.Column("output_id", sa.Integer(), nullable=False),
        sa.Column("dimension", sa.String(length=40), nullable=False),
        sa.Column("comparison_id", sa.Integer(), nullable=False),
        sa.Column("variant_id", sa.Integer(), nullable=False),
        *(sa.Column(f"n{v}", sa.Integer(), nullable=False) for v in range(1, 6)),
        sa.ForeignKeyConstraint(
            ["comparison_id"],
            ["comparisons.id"],
            name=op.f("fk_score_tallies_comparison_id_comparisons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["output_id"], ["outputs.id"], name=op.f("fk_score_tallies_output_id_outputs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("output_id", "dimension", name=op.f("pk_score_tallies")),
    )
    op.create_index(
        "ix_score_tallies_board",
        "score_tallies",
        ["variant_id", "dimension", "n1", "n2", "n3", "n4", "n5", "comparison_id"],
    )
    with op.batch_alter_table("ratings") as batch:
        batch.add_column(sa.Column("variant_ranks", sa.String(length=400), nullable=False, server_default=""))
        batch.add_column(sa.Column("first_shown_best", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("ranked_shown", sa.Integer(), nullable=False, server_default="0"))
    op.create_index(
        "ix_ratings_board",
        "ratings",
        ["variant_ranks", "first_shown_best", "ranked_shown", "rater", "comparison_id"],
    )
    # The tallies replace this index as the leaderboard's source of score counts.
    op.drop_index("ix_rating_scores_output_dimension_score", table_name="rating_scores")
    rebuild(op.get_bind(), on_progress=_log_progress)


def _log_progress(done: int, total: int) -> None:
    # Every rating is digested once; on a big install that takes a while (about 6 s per 100k on SQLite).
    if done == total or done % 20_000 < 2000:
        logging.getLogger("alembic.runtime.migration").info("digested %d of %d ratings", done, total)


def downgrade() -> None:
    op.create_index(
        "ix_rating_scores_output_dimension_score", "rating_scores", ["output_id", "dimension", "score"]
    )
    op.drop_index("ix_ratings_board", table_name="ratings")
    with op.batch_alter_table("ratings") as batch:
        batch.drop_column("ranked_shown")
        batch.drop_column("first_shown_best")
        batch.drop_column("variant_ranks")
    op.drop_index("ix_score_tallies_board", table_name="score_tallies")
    op.drop_table("score_tallies")
