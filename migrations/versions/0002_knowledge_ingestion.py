"""knowledge ingestion jobs, rag settings, chunk judgements

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 06:29:04.781656
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "ingest_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("knowledge_base_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("documents_total", sa.Integer(), nullable=False),
        sa.Column("documents_done", sa.Integer(), nullable=False),
        sa.Column("chunks_done", sa.Integer(), nullable=False),
        sa.Column("chunk_size", sa.Integer(), nullable=False),
        sa.Column("chunk_overlap", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["knowledge_base_id"],
            ["knowledge_bases.id"],
            name=op.f("fk_ingest_jobs_knowledge_base_id_knowledge_bases"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ingest_jobs")),
    )
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ingest_jobs_knowledge_base_id"), ["knowledge_base_id"], unique=False
        )

    op.create_table(
        "chunk_judgements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("output_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("rater", sa.String(length=120), nullable=False),
        sa.Column("relevant", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["output_id"],
            ["outputs.id"],
            name=op.f("fk_chunk_judgements_output_id_outputs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chunk_judgements")),
        sa.UniqueConstraint("output_id", "rank", "rater", name=op.f("uq_chunk_judgements_output_id")),
    )
    with op.batch_alter_table("chunk_judgements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chunk_judgements_output_id"), ["output_id"], unique=False)

    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("media_type", sa.String(length=20), nullable=False, server_default="text")
        )
        batch_op.add_column(sa.Column("size_bytes", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("ingest_job_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_documents_ingest_job_id_ingest_jobs"),
            "ingest_jobs",
            ["ingest_job_id"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("variant_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("min_score", sa.Float(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("use_mmr", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("variant_versions", schema=None) as batch_op:
        batch_op.drop_column("use_mmr")
        batch_op.drop_column("min_score")

    with op.batch_alter_table("documents", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_documents_ingest_job_id_ingest_jobs"), type_="foreignkey")
        batch_op.drop_column("ingest_job_id")
        batch_op.drop_column("error")
        batch_op.drop_column("size_bytes")
        batch_op.drop_column("media_type")
        batch_op.drop_column("text")

    with op.batch_alter_table("chunk_judgements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chunk_judgements_output_id"))

    op.drop_table("chunk_judgements")
    with op.batch_alter_table("ingest_jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ingest_jobs_knowledge_base_id"))

    op.drop_table("ingest_jobs")
