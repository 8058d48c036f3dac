"""Migration 0005 digests the ratings already stored (on both databases), including ratings from before
rankings existed, and can be taken back; `triptych leaderboard rebuild` does the same on demand."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from typer.testing import CliRunner

from app.cli import cli
from app.core.migrate import alembic_config, upgrade_database
from app.core.settings import to_sync_url
from app.rating.repository import rebuild
from tests.databases import blank_database

NOW = datetime(2026, 11, 24, tzinfo=UTC)
ROWS = [
    "INSERT INTO endpoints (id, name, kind, base_url, model, timeout_s, is_bundled, is_fine_tuned, created_at)"
    " VALUES (1, 'e', 'openai', 'http://127.0.0.1:9/v1', 'm', 60, false, false, :now)",
    "INSERT INTO variants (id, name, strategy, description, created_at) VALUES"
    " (1, 'v1', 'few_shot', '', :now), (2, 'v2', 'rag', '', :now)",
    "INSERT INTO variant_versions (id, variant_id, version, config_hash, endpoint_id, system_prompt, temperature,"
    " top_p, max_tokens, few_shot_k, few_shot_selection, top_k, min_score, use_mmr, created_at) VALUES"
    " (1, 1, 1, 'a', 1, '', 0.2, 1, 256, 0, 'first', 4, 0, false, :now),"
    " (2, 2, 1, 'b', 1, '', 0.2, 1, 256, 0, 'first', 4, 0, false, :now)",
    "INSERT INTO comparisons (id, query, created_by, dataset, created_at) VALUES (1, 'q', 'x', '', :now)",
    "INSERT INTO outputs (id, comparison_id, variant_version_id, position, status, text, model, contexts, prompt,"
    " created_at) VALUES (11, 1, 1, 0, 'done', 'a', 'm', '[]', '[]', :now), (12, 1, 2, 1, 'done', 'b', 'm', '[]',"
    " '[]', :now)",
    # r1 ranked 11 first but saw 12 first; r2 rated before rankings existed: 12 has the higher mean score
    "INSERT INTO ratings (id, comparison_id, rater, comment, display_order, ranking, corrected_answer, created_at)"
    " VALUES (1, 1, 'r1', '', '[12, 11]', '{\"11\": 1, \"12\": 2}', '', :now),"
    " (2, 1, 'r2', '', '[11, 12]', '{}', '', :now)",
    "INSERT INTO rating_scores (rating_id, output_id, dimension, score) VALUES"
    " (1, 11, 'correctness', 5), (1, 11, 'helpfulness', 4), (1, 12, 'correctness', 2), (1, 12, 'helpfulness', 3),"
    " (2, 11, 'correctness', 2), (2, 11, 'helpfulness', 2), (2, 12, 'correctness', 4), (2, 12, 'helpfulness', 5)",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def at_0004(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A database migrated to 0004 holding two ratings of one comparison."""
    with blank_database(request.param, tmp_path) as url:
        upgrade_database(url, "0004")
        engine = create_engine(to_sync_url(url))
        with engine.begin() as connection:
            for statement in ROWS:
                connection.execute(text(statement), {"now": NOW})
        yield url, engine
        engine.dispose()


def _aggregates(engine: Engine) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    with engine.connect() as connection:
        tallies = connection.execute(
            text(
                "SELECT output_id, dimension, comparison_id, variant_id, n1, n2, n3, n4, n5 FROM score_tallies"
                " ORDER BY output_id, dimension"
            )
        ).all()
        digests = connection.execute(
            text("SELECT id, variant_ranks, first_shown_best, ranked_shown FROM ratings ORDER BY id")
        ).all()
    return [tuple(r) for r in tallies], [tuple(r) for r in digests]


EXPECTED = (
    [
        (11, "correctness", 1, 1, 0, 1, 0, 0, 1),
        (11, "helpfulness", 1, 1, 0, 1, 0, 1, 0),
        (12, "correctness", 1, 2, 0, 1, 0, 1, 0),
        (12, "helpfulness", 1, 2, 0, 0, 1, 0, 1),
    ],
    [(1, "1:1,2:2", False, 2), (2, "1:2,2:1", False, 2)],
)


def test_0005_digests_stored_ratings_and_can_be_taken_back(at_0004: tuple[str, Engine]) -> None:
    url, engine = at_0004
    upgrade_database(url)
    expected = EXPECTED
    assert _aggregates(engine) == expected
    command.downgrade(alembic_config(url), "0004")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM rating_scores")).scalar_one() == 8
    upgrade_database(url)
    assert _aggregates(engine) == expected


def test_the_rebuild_command_repairs_hand_edited_aggregates(
    at_0004: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = at_0004
    upgrade_database(url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE score_tallies SET n1 = 7"))
        connection.execute(text("UPDATE ratings SET variant_ranks = '', first_shown_best = NULL"))
    env = {"TRIPTYCH_DATABASE_URL": url, "TRIPTYCH_DATA_DIR": str(tmp_path / "data")}
    rebuilt = CliRunner().invoke(cli, ["leaderboard", "rebuild"], env=env)
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "from 2 ratings" in rebuilt.output
    assert _aggregates(engine) == EXPECTED


def test_the_rebuild_reports_progress_per_batch(at_0004: tuple[str, Engine]) -> None:
    url, engine = at_0004
    upgrade_database(url)
    seen: list[tuple[int, int]] = []
    with engine.begin() as connection:
        assert rebuild(connection, batch=1, on_progress=lambda done, total: seen.append((done, total))) == 2
    assert seen == [(1, 2), (2, 2)]
    assert _aggregates(engine) == EXPECTED


@pytest.fixture(params=["sqlite", "postgresql"])
def labelled_at_0006(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Engine]]:
    """A database at 0006 whose comparisons carry free-text dataset labels."""
    with blank_database(request.param, tmp_path) as url:
        upgrade_database(url, "0006")
        engine = create_engine(to_sync_url(url))
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO comparisons (id, query, created_by, dataset, created_at) VALUES"
                    " (1, 'q1', 'x', 'hr', :now), (2, 'q2', 'x', 'hr', :now), (3, 'q1', 'x', 'hr', :now),"
                    " (4, 'other', 'x', '', :now), (5, 'z', 'x', 'legal', :now)"
                ),
                {"now": NOW},
            )
            connection.execute(
                text("INSERT INTO comparison_tags (comparison_id, tag) VALUES (1, 'b'), (3, 'a'), (2, 'c')")
            )
        yield url, engine
        engine.dispose()


def test_0007_turns_dataset_labels_into_datasets_and_can_be_taken_back(labelled_at_0006: tuple[str, Engine]) -> None:
    url, engine = labelled_at_0006
    upgrade_database(url)
    with engine.connect() as connection:
        datasets = connection.execute(
            text(
                "SELECT d.name, v.version, i.position, i.query, i.tags FROM datasets d"
                " JOIN dataset_versions v ON v.dataset_id = d.id JOIN dataset_items i ON i.dataset_version_id = v.id"
                " ORDER BY d.name, i.position"
            )
        ).all()
        pointers = connection.execute(
            text(
                "SELECT c.id, i.query FROM comparisons c LEFT JOIN dataset_items i ON i.id = c.dataset_item_id"
                " ORDER BY c.id"
            )
        ).all()
    tags = [t if isinstance(t, list) else json.loads(t) for *_r, t in datasets]
    # One dataset per label; each distinct query once, in the order first asked; tags gathered per query.
    assert [tuple(r[:4]) for r in datasets] == [("hr", 1, 0, "q1"), ("hr", 1, 1, "q2"), ("legal", 1, 0, "z")]
    assert tags == [["a", "b"], ["c"], []]
    assert [tuple(p) for p in pointers] == [(1, "q1"), (2, "q2"), (3, "q1"), (4, None), (5, "z")]
    command.downgrade(alembic_config(url), "0006")
    with engine.connect() as connection:
        assert connection.execute(text("SELECT COUNT(*) FROM comparisons WHERE dataset = 'hr'")).scalar_one() == 3
    upgrade_database(url)


LINEAGE_ROWS = [
    "INSERT INTO training_sets (id, name, system_prompt, include_corrections, include_top_rated, min_score,"
    " validation_fraction, seed, duplicates_dropped, created_by, created_at)"
    " VALUES (1, 'from ratings', '', true, false, 4, 0.5, 0, 0, 'a', :now)",
    "INSERT INTO training_examples (id, training_set_id, position, split, prompt, completion, source_kind, source_id,"
    " comparison_id) VALUES (1, 1, 0, 'validation', 'q1', 'corrected', 'correction', 7, 42),"
    " (2, 1, 1, 'validation', 'q2', 'from an example', 'example', 3, NULL)",
    "INSERT INTO datasets (id, name, description, created_at) VALUES (1, 'Fine-tune #1 evaluation', '', :now),"
    " (2, 'hand made', '', :now)",
    "INSERT INTO dataset_versions (id, dataset_id, version, format_kind, format_rule, created_at)"
    " VALUES (1, 1, 1, '', '', :now), (2, 2, 1, '', '', :now)",
    "INSERT INTO dataset_items (id, dataset_version_id, position, query, reference, tags, expected_source) VALUES"
    " (1, 1, 0, 'q1', 'corrected', '[]', ''), (2, 1, 1, 'q2', 'from an example', '[]', ''),"
    " (3, 1, 2, 'probe', 'Paris', '[]', ''), (4, 2, 0, 'q1', 'corrected', '[]', '')",
    "INSERT INTO finetune_jobs (id, training_set_id, backend, base_model, hyperparameters, status, step, epoch,"
    " losses, validation_losses, train_seconds, repoint_variant_ids, created_by, evaluation_dataset_id, created_at)"
    " VALUES (1, 1, 'local', 'm', '{}', 'succeeded', 0, 0, '[]', '[]', 0, '[]', 'a', 1, :now)",
]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_0010_gives_a_fine_tunes_evaluation_items_their_comparison(kind: str, tmp_path: Path) -> None:
    """Items of a job's evaluation dataset whose query and reference are a rated training row take its
    comparison (so the blind rule scopes them); other items, and other datasets' items, take none."""
    with blank_database(kind, tmp_path) as url:
        upgrade_database(url, "0009")
        engine = create_engine(to_sync_url(url))
        with engine.begin() as connection:
            for statement in LINEAGE_ROWS:
                connection.execute(text(statement), {"now": NOW})
        upgrade_database(url)
        with engine.connect() as connection:
            lineage = connection.execute(text("SELECT id, comparison_id FROM dataset_items ORDER BY id")).all()
        assert [tuple(r) for r in lineage] == [(1, 42), (2, None), (3, None), (4, None)]
        command.downgrade(alembic_config(url), "0009")
        upgrade_database(url)
        engine.dispose()


JOB_ROWS = [
    "INSERT INTO knowledge_bases (id, name, description, collection_name, embedding_model, created_at)"
    " VALUES (1, 'kb', '', 'kb_1', 'm', :now)",
    "INSERT INTO ingest_jobs (id, knowledge_base_id, status, documents_total, documents_done, chunks_done,"
    " chunk_size, chunk_overlap, created_at) VALUES (1, 1, 'done', 1, 1, 1, 800, 120, :now),"
    " (2, 1, 'failed', 1, 0, 0, 800, 120, :now), (3, 1, 'running', 1, 0, 0, 800, 120, :now)",
    "INSERT INTO datasets (id, name, description, created_at) VALUES (1, 'd', '', :now)",
    "INSERT INTO dataset_versions (id, dataset_id, version, format_kind, format_rule, created_at)"
    " VALUES (1, 1, 1, '', '', :now)",
    "INSERT INTO experiments (id, name, dataset_version_id, repeats, status, created_by, created_at) VALUES"
    " (1, 'a', 1, 1, 'done', 'x', :now), (2, 'b', 1, 1, 'cancelled', 'x', :now), (3, 'c', 1, 1, 'scoring', 'x', :now)",
    "INSERT INTO comparisons (id, query, created_by, dataset, created_at) VALUES (1, 'q', 'x', '', :now)",
    "INSERT INTO endpoints (id, name, kind, base_url, model, timeout_s, is_bundled, is_fine_tuned, created_at)"
    " VALUES (1, 'e', 'openai', 'http://127.0.0.1:9/v1', 'm', 60, false, false, :now)",
    "INSERT INTO variants (id, name, strategy, description, created_at) VALUES (1, 'v1', 'few_shot', '', :now)",
    "INSERT INTO variant_versions (id, variant_id, version, config_hash, endpoint_id, system_prompt, temperature,"
    " top_p, max_tokens, few_shot_k, few_shot_selection, top_k, min_score, use_mmr, created_at) VALUES"
    " (1, 1, 1, 'a', 1, '', 0.2, 1, 256, 0, 'first', 4, 0, false, :now)",
    "INSERT INTO outputs (id, comparison_id, variant_version_id, position, status, text, model, contexts, prompt,"
    " created_at) VALUES (11, 1, 1, 0, 'done', 'a', 'm', '[]', '[]', :now)",
]


def _statuses(engine: Engine) -> list[list[str]]:
    """The statuses of experiments, ingestion jobs and outputs, each by id."""
    with engine.connect() as connection:
        return [
            list(connection.execute(text(f"SELECT status FROM {table} ORDER BY id")).scalars())
            for table in ("experiments", "ingest_jobs", "outputs")
        ]


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_0011_finished_jobs_succeed_and_outputs_stay_done(kind: str, tmp_path: Path) -> None:
    """Experiments and ingestion jobs that finished "done" become "succeeded" (the fine-tuning jobs' word);
    other statuses, and the outputs' "done" (an answer, not a job), are left alone; downgrade takes it back."""
    with blank_database(kind, tmp_path) as url:
        upgrade_database(url, "0010")
        engine = create_engine(to_sync_url(url))
        try:
            with engine.begin() as connection:
                for statement in JOB_ROWS:
                    connection.execute(text(statement), {"now": NOW})
            upgrade_database(url, "0011")
            succeeded = [["succeeded", "cancelled", "scoring"], ["succeeded", "failed", "running"], ["done"]]
            assert _statuses(engine) == succeeded
            command.downgrade(alembic_config(url), "0010")
            done = [["done", "cancelled", "scoring"], ["done", "failed", "running"], ["done"]]
            assert _statuses(engine) == done
            upgrade_database(url, "0011")
            assert _statuses(engine) == succeeded
        finally:
            engine.dispose()
