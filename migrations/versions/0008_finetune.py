"""training sets with their lineage, fine-tuning jobs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 16:00:00
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created() -> sa.Column[datetime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "training_sets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("example_set_id", sa.Integer(), nullable=True),
        sa.Column("include_corrections", sa.Boolean(), nullable=False),
        sa.Column("include_top_rated", sa.Boolean(), nullable=False),
        sa.Column("min_score", sa.Float(), nullable=False),
        sa.Column("validation_fraction", sa.Float(), nullable=False),
        sa.Column("seed", sa.Integer(), nullable=False),
        sa.Column("duplicates_dropped", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        _created(),
        sa.ForeignKeyConstraint(
            ["example_set_id"], ["example_sets.id"], name=op.f("fk_training_sets_example_set_id_example_sets"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_sets")),
        sa.UniqueConstraint("name", name=op.f("uq_training_sets_name")),
    )
    op.create_table(
        "training_examples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("training_set_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("split", sa.String(length=12), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=False),
        sa.Column("completion", sa.Text(), nullable=False),
        sa.Column("rejected", sa.Text(), nullable=True),
        sa.Column("source_kind", sa.String(length=20), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("comparison_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["training_set_id"], ["training_sets.id"],
            name=op.f("fk_training_examples_training_set_id_training_sets"), ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_training_examples")),
    )
    op.create_index(op.f("ix_training_examples_training_set_id"), "training_examples", ["training_set_id"])
    op.create_table(
        "finetune_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("training_set_id", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=20), nullable=False),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("base_model", sa.String(length=200), nullable=False),
        sa.Column("hyperparameters", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("total_steps", sa.Integer(), nullable=True),
        sa.Column("epoch", sa.Float(), nullable=False),
        sa.Column("losses", sa.JSON(), nullable=False),
        sa.Column("validation_losses", sa.JSON(), nullable=False),
        sa.Column("train_seconds", sa.Float(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("result_model", sa.String(length=200), nullable=True),
        sa.Column("result_endpoint_id", sa.Integer(), nullable=True),
        sa.Column("evaluation_dataset_id", sa.Integer(), nullable=True),
        sa.Column("evaluation_experiment_id", sa.Integer(), nullable=True),
        sa.Column("repoint_variant_ids", sa.JSON(), nullable=False),
        sa.Column("resumed", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        _created(),
        sa.ForeignKeyConstraint(
            ["training_set_id"], ["training_sets.id"], name=op.f("fk_finetune_jobs_training_set_id_training_sets")
        ),
        sa.ForeignKeyConstraint(["endpoint_id"], ["endpoints.id"], name=op.f("fk_finetune_jobs_endpoint_id_endpoints")),
        sa.ForeignKeyConstraint(
            ["result_endpoint_id"], ["endpoints.id"], name=op.f("fk_finetune_jobs_result_endpoint_id_endpoints")
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_dataset_id"], ["datasets.id"],
            name=op.f("fk_finetune_jobs_evaluation_dataset_id_datasets"), ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["evaluation_experiment_id"], ["experiments.id"],
            name=op.f("fk_finetune_jobs_evaluation_experiment_id_experiments"), ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_finetune_jobs")),
    )
    op.create_index(op.f("ix_finetune_jobs_training_set_id"), "finetune_jobs", ["training_set_id"])
    op.create_index(op.f("ix_finetune_jobs_status"), "finetune_jobs", ["status"])


def downgrade() -> None:
    op.drop_table("finetune_jobs")
    op.drop_table("training_examples")
    op.drop_table("training_sets")
