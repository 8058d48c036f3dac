"""The `triptych` command's account commands, on both databases; and the schema matches the migrations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, delete, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from app.accounts.service import hash_token
from app.cli import cli
from app.core.migrate import ours
from app.core.settings import to_sync_url
from app.models import ApiToken, Base, User


@pytest.fixture
def env(database_url: str, tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {"TRIPTYCH_DATABASE_URL": database_url, "TRIPTYCH_DATA_DIR": str(tmp_path / "data")}
    # The database lives for the whole test session: leave no accounts behind for the next test.
    engine = create_engine(to_sync_url(database_url))
    with engine.begin() as connection:
        connection.execute(delete(ApiToken))
        connection.execute(delete(User))
    engine.dispose()


def _rows(database_url: str, model: type) -> list:  # type: ignore[type-arg]
    engine = create_engine(to_sync_url(database_url))
    try:
        with Session(engine) as session:
            return list(session.scalars(select(model)).all())
    finally:
        engine.dispose()


def test_users_create_admin_then_a_token_for_that_user(env: dict[str, str], database_url: str) -> None:
    runner = CliRunner()
    created = runner.invoke(
        cli, ["users", "create", "ada", "--admin"], input="long enough pw\nlong enough pw\n", env=env
    )
    assert created.exit_code == 0, created.output
    assert "created ada (admin)" in created.output and "long enough pw" not in created.output
    invited = runner.invoke(cli, ["users", "create", "bob", "--role", "viewer", "--invite"], env=env)
    assert invited.exit_code == 0 and "/invite/" in invited.output
    duplicate = runner.invoke(cli, ["users", "create", "ada", "--invite"], env=env)
    assert duplicate.exit_code == 1 and "already exists" in duplicate.output
    token = runner.invoke(cli, ["tokens", "create", "--user", "ada", "--name", "ci"], env=env)
    assert token.exit_code == 0
    secret = token.output.strip().splitlines()[-1]
    assert secret.startswith("tt_")
    nobody = runner.invoke(cli, ["tokens", "create", "--user", "nobody"], env=env)
    assert nobody.exit_code != 0 and "no user named" in nobody.output
    listed = runner.invoke(cli, ["users", "list"], env=env)
    assert "ada\tadmin\tactive" in listed.output and "bob\tviewer\tinvited" in listed.output
    users = {u.name: u for u in _rows(database_url, User)}
    assert users["ada"].password_hash.startswith("$argon2id$")  # type: ignore[union-attr]
    tokens = [t for t in _rows(database_url, ApiToken) if t.name == "ci"]
    assert [t.token_hash for t in tokens] == [hash_token(secret)] and tokens[0].user_id == users["ada"].id
    revoked = runner.invoke(cli, ["tokens", "revoke", "--name", "ci"], env=env)
    assert revoked.exit_code == 0
    assert all(t.revoked_at is not None for t in _rows(database_url, ApiToken) if t.name == "ci")


def test_short_passwords_are_refused(env: dict[str, str]) -> None:
    result = CliRunner().invoke(cli, ["users", "create", "cy"], input="short\nshort\n", env=env)
    assert result.exit_code == 1 and "at least 10" in result.output


def test_models_match_the_migrations(database_url: str) -> None:
    engine = create_engine(to_sync_url(database_url))
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"include_name": ours})
            differences = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_process_roles_refuse_what_one_process_owns(tmp_path: Path) -> None:
    """Several web processes or a separate worker need the shared PostgreSQL queue and Chroma server: on the
    embedded default the commands say so (and how to fix it) instead of starting processes that would fight."""
    runner = CliRunner()
    env = {"TRIPTYCH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 't.db'}", "TRIPTYCH_DATA_DIR": str(tmp_path / "data")}
    worker = runner.invoke(cli, ["worker"], env=env)
    assert worker.exit_code == 2 and "TRIPTYCH_DATABASE_URL" in worker.output and "triptych serve" in worker.output
    web = runner.invoke(cli, ["serve", "--workers", "2"], env=env)
    assert web.exit_code == 2 and "PostgreSQL" in web.output
    on_pg = {"TRIPTYCH_DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"} | {"TRIPTYCH_DATA_DIR": env["TRIPTYCH_DATA_DIR"]}
    no_chroma = runner.invoke(cli, ["serve", "--workers", "2"], env=on_pg)
    assert no_chroma.exit_code == 2 and "TRIPTYCH_CHROMA_URL" in no_chroma.output
    model_here = runner.invoke(cli, ["serve", "--workers", "2"], env=on_pg | {"TRIPTYCH_CHROMA_URL": "http://127.0.0.1:9"})
    assert model_here.exit_code == 2 and "python -m app.localmodels" in model_here.output
