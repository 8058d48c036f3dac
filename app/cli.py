"""The `triptych` command: serve, migrate, users, tokens, leaderboard, ingest, kb."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import NoReturn, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.cli_experiments import experiments_cli
from app.cli_finetune import finetune_cli
from app.core.migrate import upgrade_database
from app.core.observability import configure_logging, logging_config
from app.core.settings import Settings, get_settings
from app.knowledge.presenters import job_out
from app.models import IngestJob
from app.state import AppState

T = TypeVar("T")
cli = typer.Typer(
    help="Triptych: prompt, retrieve or fine-tune? Compare with evidence.", no_args_is_help=True
)
tokens_cli = typer.Typer(help="API tokens for Authorization: Bearer.", no_args_is_help=True)
cli.add_typer(tokens_cli, name="tokens")
cli.add_typer(experiments_cli, name="experiments")
cli.add_typer(finetune_cli, name="finetune")




def _refuse(message: str) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(2)


@cli.command()
def serve(
    host: str = typer.Option(None, help="Interface to bind (default from TRIPTYCH_HOST: 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default from TRIPTYCH_PORT: 8000)."),
    workers: int = typer.Option(1, min=1, max=64, help="Web processes (more than one needs PostgreSQL)."),
    jobs: bool = typer.Option(
        None, "--jobs/--no-jobs", help="Work background jobs in the web process too (default from TRIPTYCH_WORK_JOBS: yes)."
    ),
) -> None:
    """Migrate, load the demo on first start, and serve the app (and the bundled model at /local)."""
    import uvicorn

    from app.main import create_app

    overrides = {k: v for k, v in {"host": host, "port": port, "work_jobs": jobs}.items() if v is not None}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if workers > 1:
        if not settings.resolved_database_url.startswith("postgresql"):
            _refuse(
                "several web processes share a PostgreSQL database and a Chroma server: set TRIPTYCH_DATABASE_URL "
                "and TRIPTYCH_CHROMA_URL (the embedded SQLite and Chroma belong to one process)"
            )
        if settings.chroma_url is None:
            _refuse("several web processes need Chroma's server mode: set TRIPTYCH_CHROMA_URL (e.g. `chroma run`)")
        if settings.serve_local_model:
            _refuse(
                "the bundled model is served by one process, not one copy per web process: run "
                "`python -m app.localmodels` and set TRIPTYCH_SERVE_LOCAL_MODEL=false and TRIPTYCH_LOCAL_MODEL_URL"
            )
    configure_logging(settings.log_format)
    log_config = logging_config(settings.log_format)
    typer.echo(f"Triptych on http://{settings.host}:{settings.port}  (data in {settings.data_dir.resolve()})")
    if workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=log_config)
        return
    # Each web process builds its app from the environment: pass the command's options on through it.
    os.environ.update({f"TRIPTYCH_{k.upper()}": str(v).lower() if isinstance(v, bool) else str(v) for k, v in overrides.items()})
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        log_config=log_config,
    )


@cli.command()
def worker(
    queues: str = typer.Option(None, help="Comma-separated queues to work (default: all of ingest, experiments, finetune)."),
    concurrency: int = typer.Option(None, min=1, max=64, help="Jobs at once (default from TRIPTYCH_JOB_CONCURRENCY)."),
) -> None:
    """Work background jobs (ingestion, experiments, fine-tuning) from the PostgreSQL queue until stopped
    (SIGTERM or Ctrl+C: jobs running here go back to the queue). A machine with a GPU or spare cores runs
    `triptych worker --queues finetune`."""
    overrides = {"job_concurrency": concurrency} if concurrency else {}
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if not settings.resolved_database_url.startswith("postgresql"):
        _refuse(
            "a separate worker needs the shared PostgreSQL queue (TRIPTYCH_DATABASE_URL); on the embedded SQLite "
            "default `triptych serve` works the jobs itself"
        )
    configure_logging(settings.log_format)
    asyncio.run(_work(settings, [q.strip() for q in queues.split(",") if q.strip()] if queues else None))


async def _work(settings: Settings, queues: list[str] | None) -> None:
    from app.core.jobs import UnknownJobKind
    from app.state import open_state, start_working

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with open_state(settings) as state:
        try:
            await start_working(state, queues)
        except UnknownJobKind as exc:
            _refuse(str(exc))
        typer.echo(f"working {', '.join(queues or state.jobs.queues)} (concurrency {settings.job_concurrency})")
        await stop.wait()
        typer.echo("stopping: jobs running here go back to the queue")


@cli.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    settings = get_settings()
    upgrade_database(settings.resolved_database_url)
    typer.echo("database is up to date")


async def _with_sessions(action: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one action in a committed transaction on the configured database."""
    from app.core.database import create_engine, create_session_factory

    settings = get_settings()
    upgrade_database(settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    try:
        async with create_session_factory(engine).begin() as session:
            return await action(session)
    finally:
        await engine.dispose()


@tokens_cli.command("create")
def tokens_create(
    user: str = typer.Option(None, help="The user the token acts as (with that user's role)."),
    name: str = typer.Option(None, help="A label for the token (default: cli)."),
) -> None:
    """Create an API token and print it once (only its hash is stored).

    Without --user the token is a service token with admin rights."""
    from app.accounts.repository import UserRepository
    from app.accounts.service import create_token

    async def action(session: AsyncSession) -> str:
        owner = None
        if user is not None:
            owner = await UserRepository(session).by_name(user)
            if owner is None:
                raise typer.BadParameter(f"no user named {user!r}: create one with `triptych users create`")
        return await create_token(session, name or "cli", owner)

    typer.echo(asyncio.run(_with_sessions(action)))


@tokens_cli.command("revoke")
def tokens_revoke(name: str = typer.Option(..., help="The token's name.")) -> None:
    """Revoke the live token with this name."""
    from app.accounts.service import revoke_token

    if not asyncio.run(_with_sessions(lambda s: revoke_token(s, name))):
        typer.echo(f"no live token named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {name}")


users_cli = typer.Typer(help="People and their roles (there is no open sign-up).", no_args_is_help=True)
cli.add_typer(users_cli, name="users")


@users_cli.command("create")
def users_create(
    name: str = typer.Argument(..., help="Sign-in name."),
    role: str = typer.Option("rater", help="admin, rater or viewer."),
    admin: bool = typer.Option(False, "--admin", help="Shortcut for --role admin (e.g. the first account)."),
    invite: bool = typer.Option(
        False, "--invite", help="Print an invitation link instead of asking for a password."
    ),
) -> None:
    """Create an account with a password typed here (hidden), or with --invite a one-time link."""
    from app.accounts.service import AccountService
    from app.core.errors import DomainError

    password = None
    if not invite:
        password = typer.prompt("Password (10+ characters)", hide_input=True, confirmation_prompt=True)

    async def action(session: AsyncSession) -> str | None:
        return (await AccountService(session).create(name, "admin" if admin else role, password)).invite

    try:
        link = asyncio.run(_with_sessions(action))
    except DomainError as exc:
        typer.echo(exc.detail, err=True)
        raise typer.Exit(1) from None
    settings = get_settings()
    typer.echo(f"created {name} ({'admin' if admin else role})")
    if link:
        typer.echo(f"invitation (valid 7 days): http://{settings.host}:{settings.port}/invite/{link}")


@users_cli.command("list")
def users_list() -> None:
    """Everyone with an account, their role and status."""
    from app.accounts.service import AccountService

    for user in asyncio.run(_with_sessions(lambda s: AccountService(s).list())):
        state = "disabled" if user.disabled_at else "active" if user.password_hash else "invited"
        typer.echo(f"{user.name}\t{user.role}\t{state}")


leaderboard_cli = typer.Typer(help="The leaderboard's aggregates.", no_args_is_help=True)
cli.add_typer(leaderboard_cli, name="leaderboard")


@leaderboard_cli.command("rebuild")
def leaderboard_rebuild() -> None:
    """Recompute the score tallies and rating digests from the ratings (after editing ratings by hand)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.rating.repository import rebuild

    with Progress(TextColumn("ratings"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as progress:
        task = progress.add_task("ratings", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        digested = asyncio.run(
            _with_sessions(lambda s: s.run_sync(lambda sync: rebuild(sync.connection(), on_progress=report)))
        )
    typer.echo(
        f"rebuilt the leaderboard from {digested:,} ratings; a running server shows it after its next rating"
        " or restart"
    )


kb_cli = typer.Typer(help="Knowledge bases.", no_args_is_help=True)
cli.add_typer(kb_cli, name="kb")


def _app_state() -> AbstractAsyncContextManager[AppState]:
    """The same long-lived objects the server builds, opened and closed the same way."""
    from app.state import open_state

    return open_state(get_settings())


@cli.command()
def ingest(
    knowledge_base: str = typer.Argument(..., help="Knowledge base name or id (created if the name is new)."),
    paths: list[Path] = typer.Argument(..., help="Files (txt, md, html, pdf, zip) or folders of them."),
    chunk_size: int = typer.Option(None, help="Characters per chunk (default from settings)."),
    chunk_overlap: int = typer.Option(None, help="Characters shared by neighbouring chunks."),
) -> None:
    """Ingest documents into a knowledge base, with a progress bar."""
    files = [
        p for path in paths for p in ([path] if path.is_file() else sorted(path.rglob("*"))) if p.is_file()
    ]
    if not files:
        typer.echo("no files found", err=True)
        raise typer.Exit(2)
    asyncio.run(_ingest(knowledge_base, files, chunk_size, chunk_overlap))


async def _ingest(name: str, files: list[Path], chunk_size: int | None, chunk_overlap: int | None) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from app.core.errors import DomainError

    async with _app_state() as state:
        bases = {str(kb.id): kb for kb in await state.knowledge.active()} | {
            kb.name: kb for kb in await state.knowledge.active()
        }
        kb = bases.get(name) or await state.knowledge.create(name)
        if name not in bases:
            typer.echo(f"created knowledge base {kb.name!r} (id {kb.id})")
        uploads = [(f.name, f.read_bytes()) for f in files]
        try:
            result = await state.knowledge.add_documents(
                kb.id, uploads, chunk_size=chunk_size, chunk_overlap=chunk_overlap, start=False
            )
        except DomainError as exc:
            typer.echo(f"rejected: {exc.detail}", err=True)
            raise typer.Exit(1) from exc
        for duplicate in result.duplicates:
            typer.echo(f"skipped (already in the knowledge base): {duplicate}")
        if result.job is None:
            typer.echo("nothing new to ingest")
            return
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        )
        with Progress(*columns) as progress:
            task = progress.add_task("documents", total=result.job.documents_total, rate="")

            def report(job: IngestJob) -> None:
                rate = job_out(job).chunks_per_s
                progress.update(
                    task, completed=job.documents_done, rate=f"{job.chunks_done} chunks, {rate or 0:.0f}/s"
                )

            await state.ingest.run(result.job.id, on_progress=report)
        job = await state.knowledge.job(result.job.id)
        typer.echo(
            f"{job.status}: {job.documents_done} documents, {job.chunks_done} chunks"
            + (f" ({job.error})" if job.error else "")
        )


@kb_cli.command("check")
def kb_check(
    repair: bool = typer.Option(True, help="Repair differences (re-embed missing, drop orphans)."),
) -> None:
    """Report (and repair) differences between SQL and Chroma for every knowledge base."""
    from app.knowledge.kb_check import check_knowledge_bases

    async def run() -> bool:
        async with _app_state() as state:
            reports = await check_knowledge_bases(state.sessions, state.store, state.ingest, repair=repair)
        for r in reports:
            verdict = "ok" if r.consistent else ("repaired" if r.repaired else "DIFFERS")
            typer.echo(
                f"{r.name} (id {r.kb_id}): {r.sql_chunks} chunks in SQL, {r.chroma_vectors} vectors in Chroma, "
                f"{len(r.missing_in_chroma)} missing, {len(r.orphans_in_chroma)} orphaned, "
                f"{len(r.unfinished_documents)} unfinished documents: {verdict}"
            )
        return all(r.consistent or r.repaired for r in reports)

    if not asyncio.run(run()):
        raise typer.Exit(1)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
