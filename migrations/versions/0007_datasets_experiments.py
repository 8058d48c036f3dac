"""datasets, experiments, output metrics, judge verdicts; outputs' wait and cache; labels become datasets

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:30:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created() -> sa.Column[datetime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        _created(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_datasets")),
        sa.UniqueConstraint("name", name=op.f("uq_datasets_name")),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("format_kind", sa.String(length=20), nullable=False),
        sa.Column("format_rule", sa.Text(), nullable=False),
        sa.Column("probe_tag", sa.String(length=60), server_default="general", nullable=False),
        _created(),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_dataset_versions_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_versions")),
        sa.UniqueConstraint("dataset_id", "version", name=op.f("uq_dataset_versions_dataset_id")),
    )
    op.create_index(op.f("ix_dataset_versions_dataset_id"), "dataset_versions", ["dataset_id"])
    op.create_table(
        "dataset_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dataset_version_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("expected_source", sa.String(length=300), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_items_dataset_version_id_dataset_versions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_items")),
    )
    op.create_index(op.f("ix_dataset_items_dataset_version_id"), "dataset_items", ["dataset_version_id"])
    op.create_table(
        "experiments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("dataset_version_id", sa.Integer(), nullable=False),
        sa.Column("repeats", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("refresh", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("judge_endpoint_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=120), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        _created(),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_experiments_dataset_version_id_dataset_versions"),
        ),
        sa.ForeignKeyConstraint(
            ["judge_endpoint_id"], ["endpoints.id"], name=op.f("fk_experiments_judge_endpoint_id_endpoints")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    op.create_index(op.f("ix_experiments_dataset_version_id"), "experiments", ["dataset_version_id"])
    op.create_index(op.f("ix_experiments_status"), "experiments", ["status"])
    op.create_table(
        "experiment_variants",
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("variant_version_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_variants_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["variant_version_id"],
            ["variant_versions.id"],
            name=op.f("fk_experiment_variants_variant_version_id_variant_versions"),
        ),
        sa.PrimaryKeyConstraint("experiment_id", "variant_version_id", name=op.f("pk_experiment_variants")),
    )
    with op.batch_alter_table("comparisons") as batch:
        batch.add_column(sa.Column("experiment_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("dataset_item_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("sample", sa.Integer(), server_default="0", nullable=False))
        batch.create_foreign_key(
            op.f("fk_comparisons_experiment_id_experiments"), "experiments", ["experiment_id"], ["id"], ondelete="CASCADE"
        )
        batch.create_foreign_key(
            op.f("fk_comparisons_dataset_item_id_dataset_items"), "dataset_items", ["dataset_item_id"], ["id"]
        )
        batch.create_index(op.f("ix_comparisons_experiment_id"), ["experiment_id"])
        batch.create_index(op.f("ix_comparisons_dataset_item_id"), ["dataset_item_id"])
        batch.create_unique_constraint(
            op.f("uq_comparisons_experiment_id"), ["experiment_id", "dataset_item_id", "sample"]
        )
    with op.batch_alter_table("outputs") as batch:
        batch.add_column(sa.Column("wait_ms", sa.Float(), nullable=True))
        batch.add_column(sa.Column("cache_key", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("cached_from_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_outputs_cached_from_id_outputs"), "outputs", ["cached_from_id"], ["id"], ondelete="SET NULL"
        )
        batch.create_index(op.f("ix_outputs_cache_key"), ["cache_key"])
        batch.create_unique_constraint(op.f("uq_outputs_comparison_id"), ["comparison_id", "variant_version_id"])
    with op.batch_alter_table("endpoints") as batch:
        batch.add_column(sa.Column("max_concurrency", sa.Integer(), server_default="4", nullable=False))
    with op.batch_alter_table("variant_versions") as batch:
        batch.add_column(sa.Column("context_template", sa.Text(), server_default="", nullable=False))
    op.create_table(
        "output_metrics",
        sa.Column("output_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["output_id"], ["outputs.id"], name=op.f("fk_output_metrics_output_id_outputs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("output_id", "name", name=op.f("pk_output_metrics")),
    )
    op.create_table(
        "judge_verdicts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("experiment_id", sa.Integer(), nullable=False),
        sa.Column("comparison_id", sa.Integer(), nullable=False),
        sa.Column("output_a_id", sa.Integer(), nullable=False),
        sa.Column("output_b_id", sa.Integer(), nullable=False),
        sa.Column("first_verdict", sa.String(length=10), nullable=True),
        sa.Column("swapped_verdict", sa.String(length=10), nullable=True),
        sa.Column("outcome", sa.Integer(), nullable=False),
        sa.Column("consistent", sa.Boolean(), nullable=False),
        sa.Column("first_text", sa.Text(), nullable=False),
        sa.Column("swapped_text", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        _created(),
        sa.ForeignKeyConstraint(
            ["experiment_id"], ["experiments.id"], name=op.f("fk_judge_verdicts_experiment_id_experiments"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["comparison_id"], ["comparisons.id"], name=op.f("fk_judge_verdicts_comparison_id_comparisons"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["output_a_id"], ["outputs.id"], name=op.f("fk_judge_verdicts_output_a_id_outputs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["output_b_id"], ["outputs.id"], name=op.f("fk_judge_verdicts_output_b_id_outputs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judge_verdicts")),
        sa.UniqueConstraint(
            "comparison_id", "output_a_id", "output_b_id", name=op.f("uq_judge_verdicts_comparison_id")
        ),
    )
    op.create_index(op.f("ix_judge_verdicts_experiment_id"), "judge_verdicts", ["experiment_id"])
    op.create_index(op.f("ix_judge_verdicts_comparison_id"), "judge_verdicts", ["comparison_id"])
    _labels_to_datasets(op.get_bind())


def _labels_to_datasets(bind: sa.Connection) -> None:
    """Each free-text dataset label on comparisons becomes a dataset (version 1) of the distinct queries asked
    under it, in the order first asked; the comparisons then point at their item. The label stays (the
    leaderboard filters on it)."""
    comparisons = sa.table(
        "comparisons",
        sa.column("id", sa.Integer),
        sa.column("query", sa.Text),
        sa.column("dataset", sa.String),
        sa.column("dataset_item_id", sa.Integer),
    )
    tags = sa.table("comparison_tags", sa.column("comparison_id", sa.Integer), sa.column("tag", sa.String))
    datasets = sa.table(
        "datasets",
        sa.column("id", sa.Integer),
        sa.column("name", sa.String),
        sa.column("description", sa.Text),
        sa.column("created_at", sa.DateTime),
    )
    versions = sa.table(
        "dataset_versions",
        sa.column("id", sa.Integer),
        sa.column("dataset_id", sa.Integer),
        sa.column("version", sa.Integer),
        sa.column("format_kind", sa.String),
        sa.column("format_rule", sa.Text),
        sa.column("created_at", sa.DateTime),
    )
    items = sa.table(
        "dataset_items",
        sa.column("id", sa.Integer),
        sa.column("dataset_version_id", sa.Integer),
        sa.column("position", sa.Integer),
        sa.column("query", sa.Text),
        sa.column("reference", sa.Text),
        sa.column("tags", sa.JSON),
        sa.column("expected_source", sa.String),
    )
    now = datetime.now(UTC)
    rows = bind.execute(
        sa.select(comparisons.c.id, comparisons.c.query, comparisons.c.dataset)
        .where(comparisons.c.dataset != "")
        .order_by(comparisons.c.id)
    ).all()
    by_label: dict[str, dict[str, list[int]]] = {}
    for comparison_id, query, label in rows:
        by_label.setdefault(label, {}).setdefault(query, []).append(comparison_id)
    for label, queries in by_label.items():
        dataset_id = bind.execute(
            sa.insert(datasets)
            .values(name=label[:120], description="Migrated from the comparisons' dataset label.", created_at=now)
            .returning(datasets.c.id)
        ).scalar_one()
        version_id = bind.execute(
            sa.insert(versions)
            .values(dataset_id=dataset_id, version=1, format_kind="", format_rule="", created_at=now)
            .returning(versions.c.id)
        ).scalar_one()
        for position, (query, comparison_ids) in enumerate(queries.items()):
            item_tags = sorted(
                {t for (t,) in bind.execute(sa.select(tags.c.tag).where(tags.c.comparison_id.in_(comparison_ids)))}
            )
            item_id = bind.execute(
                sa.insert(items)
                .values(
                    dataset_version_id=version_id,
                    position=position,
                    query=query,
                    reference="",
                    tags=item_tags,
                    expected_source="",
                )
                .returning(items.c.id)
            ).scalar_one()
            bind.execute(
                sa.update(comparisons).where(comparisons.c.id.in_(comparison_ids)).values(dataset_item_id=item_id)
            )


def downgrade() -> None:
    op.drop_table("judge_verdicts")
    op.drop_table("output_metrics")
    with op.batch_alter_table("variant_versions") as batch:
        batch.drop_column("context_template")
    with op.batch_alter_table("endpoints") as batch:
        batch.drop_column("max_concurrency")
    with op.batch_alter_table("outputs") as batch:
        batch.drop_constraint(op.f("uq_outputs_comparison_id"), type_="unique")
        batch.drop_index(op.f("ix_outputs_cache_key"))
        batch.drop_constraint(op.f("fk_outputs_cached_from_id_outputs"), type_="foreignkey")
        batch.drop_column("cached_from_id")
        batch.drop_column("cache_key")
        batch.drop_column("wait_ms")
    with op.batch_alter_table("comparisons") as batch:
        batch.drop_constraint(op.f("uq_comparisons_experiment_id"), type_="unique")
        batch.drop_index(op.f("ix_comparisons_dataset_item_id"))
        batch.drop_index(op.f("ix_comparisons_experiment_id"))
        batch.drop_constraint(op.f("fk_comparisons_dataset_item_id_dataset_items"), type_="foreignkey")
        batch.drop_constraint(op.f("fk_comparisons_experiment_id_experiments"), type_="foreignkey")
        batch.drop_column("sample")
        batch.drop_column("dataset_item_id")
        batch.drop_column("experiment_id")
    op.drop_table("experiment_variants")
    op.drop_table("experiments")
    op.drop_table("dataset_items")
    op.drop_table("dataset_versions")
    op.drop_table("datasets")
