"""The `triptych` command: serve, migrate, demo, tokens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, get_settings
from app.migrate import upgrade_database

T = TypeVar("T")
cli = typer.Typer(
    help="Triptych: prompt, retrieve or fine-tune? Compare with evidence.", no_args_is_help=True
)
tokens_cli = typer.Typer(help="API tokens for Authorization: Bearer.", no_args_is_help=True)
cli.add_typer(tokens_cli, name="tokens")


@cli.command()
def serve(
    host: str = typer.Option(None, help="Interface to bind (default from TRIPTYCH_HOST: 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default from TRIPTYCH_PORT: 8000)."),
) -> None:
    """Migrate, load the demo on first start, and serve the app (and the bundled model at /local)."""
    import uvicorn

    from app.main import create_app

    overrides = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    typer.echo(f"Triptych on http://{settings.host}:{settings.port}  (data in {settings.data_dir.resolve()})")
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_level="info")


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = get_settings()
    upgrade_database(settings.resolved_database_url)
    typer.echo("database is up to date")


async def _with_sessions(action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one action in a committed transaction on the configured database."""
    from app.db import create_engine, create_session_factory

    settings = get_settings()
    upgrade_database(settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            return await action(session)
    finally:
        await engine.dispose()


@tokens_cli.command("create")
def tokens_create(name: str = typer.Option(..., help="Who or what the token is for.")) -> None:
    """Create an API token and print it once (only its hash is stored)."""
    from app.services.tokens import create_token

    token = asyncio.run(_with_sessions(lambda s: create_token(s, name)))
    typer.echo(token)


@tokens_cli.command("revoke")
def tokens_revoke(name: str = typer.Option(..., help="The token's name.")) -> None:
    """Revoke the live token with this name."""
    from app.services.tokens import revoke_token

    if not asyncio.run(_with_sessions(lambda s: revoke_token(s, name))):
        typer.echo(f"no live token named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {name}")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
