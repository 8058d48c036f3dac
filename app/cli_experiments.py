"""`triptych experiments`: run a dataset across variants with a progress bar; list, show, cancel, resume."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

import typer

from app.core.auth import BACKGROUND
from app.core.errors import DomainError
from app.core.settings import get_settings
from app.experiments.presenters import experiment_out
from app.experiments.schemas import ExperimentIn, ExperimentOut
from app.experiments.service import FINISHED, ExperimentService
from app.state import AppState

experiments_cli = typer.Typer(help="Experiments: a dataset across variants.", no_args_is_help=True)


def _state() -> AbstractAsyncContextManager[AppState]:
    """The same long-lived objects the server builds, opened and closed the same way."""
    from app.state import open_state

    return open_state(get_settings())


@asynccontextmanager
async def _refused_exits() -> AsyncIterator[None]:
    """A refused command says why and exits 1 (not a traceback)."""
    try:
        yield
    except DomainError as exc:
        typer.echo(f"refused: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


async def _view(state: AppState, experiment_id: int) -> ExperimentOut:
    async with state.sessions() as session:
        return experiment_out(await ExperimentService(session, state.cipher).overview(experiment_id))


async def _lookup(state: AppState, name_or_id: str, kind: str) -> int:
    """A dataset or variant id from its name or id."""
    from app.catalog.service import VariantService
    from app.datasets.service import DatasetService

    async with state.sessions() as session:
        if kind == "dataset":
            rows = [(s.dataset.id, s.dataset.name) for s in await DatasetService(session, BACKGROUND).list()]
        else:
            rows = [(v.id, v.name) for v in await VariantService(session).list()]
    for row_id, name in rows:
        if name_or_id in (str(row_id), name):
            return row_id
    typer.echo(f"no active {kind} named {name_or_id!r}; known: {', '.join(n for _i, n in rows)}", err=True)
    raise typer.Exit(2)


async def _follow(state: AppState, experiment_id: int) -> ExperimentOut:
    """Run the experiment (this process works the experiments queue too; with PostgreSQL a worker process
    may take it instead), drawing its progress until it finishes. Ctrl+C stops this process: the job goes
    back to the queue (PostgreSQL) or resumes at the next start (SQLite)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    await state.jobs.work(["experiments"])
    await state.jobs.enqueue("experiment", experiment_id)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        bar = progress.add_task("outputs", total=None, detail="")
        while True:
            view = await _view(state, experiment_id)
            p = view.progress
            detail = f"{view.status}, {p.errors} errors, {p.cached} cached, {p.scored} scored"
            progress.update(bar, total=p.total, completed=p.done + p.errors, detail=detail)
            if view.status in FINISHED:
                break
            await asyncio.sleep(0.5)
    return await _view(state, experiment_id)


def _summary(view: ExperimentOut) -> str:
    p = view.progress
    return (
        f"experiment {view.id} {view.status}: {p.done} answered, {p.errors} errors, {p.cached} from the cache, "
        f"{p.pending} pending, {p.scored} scored" + (f" ({view.error})" if view.error else "")
    )


@experiments_cli.command("run")
def run(
    dataset: str = typer.Argument(..., help="Dataset name or id."),
    variants: str = typer.Option(None, help="Comma-separated variant names or ids (default: every active one)."),
    repeats: int = typer.Option(1, min=1, max=10, help="Samples per item."),
    refresh: bool = typer.Option(False, help="Ask the models again even where a cached answer exists."),
    name: str = typer.Option("", help="A name for the experiment."),
) -> None:
    """Run a dataset across variants here, with a progress bar (Ctrl+C stops; `resume` carries on)."""

    async def go() -> ExperimentOut:
        async with _state() as state:
            dataset_id = await _lookup(state, dataset, "dataset")
            variant_ids = (
                [await _lookup(state, v.strip(), "variant") for v in variants.split(",") if v.strip()]
                if variants
                else None
            )
            data = ExperimentIn(
                dataset_id=dataset_id, variant_ids=variant_ids, repeats=repeats, refresh=refresh, name=name
            )
            async with _refused_exits(), state.sessions.begin() as session:
                experiment = await ExperimentService(session, state.cipher).create(data, "cli")
            typer.echo(f"experiment {experiment.id}: {experiment.name}")
            return await _follow(state, experiment.id)

    typer.echo(_summary(asyncio.run(go())))


@experiments_cli.command("resume")
def resume(experiment_id: int = typer.Argument(..., help="Experiment id.")) -> None:
    """Carry on a cancelled, failed or interrupted experiment where it stopped."""

    async def go() -> ExperimentOut:
        async with _state() as state:
            async with _refused_exits(), state.sessions.begin() as session:
                await ExperimentService(session, state.cipher).reopen(experiment_id)
            return await _follow(state, experiment_id)

    typer.echo(_summary(asyncio.run(go())))


@experiments_cli.command("cancel")
def cancel(experiment_id: int = typer.Argument(..., help="Experiment id.")) -> None:
    """Stop new model calls (the running process sees it within a second); finished outputs stay."""

    async def go() -> ExperimentOut:
        async with _state() as state:
            async with _refused_exits(), state.sessions.begin() as session:
                await ExperimentService(session, state.cipher).cancel(experiment_id)
            await state.jobs.cancel("experiment", experiment_id)  # withdrawn if it still waits in the queue
            return await _view(state, experiment_id)

    typer.echo(_summary(asyncio.run(go())))


@experiments_cli.command("list")
def list_experiments() -> None:
    """Recent experiments with their status."""

    async def go() -> list[ExperimentOut]:
        async with _state() as state, state.sessions() as session:
            service = ExperimentService(session, state.cipher)
            return [experiment_out(o) for o in await service.overviews(await service.recent(limit=50))]

    for view in asyncio.run(go()):
        p = view.progress
        typer.echo(f"{view.id:>5}  {view.status:<10} {p.done + p.errors:>6}/{p.total:<6} {view.name}")


@experiments_cli.command("show")
def show(experiment_id: int = typer.Argument(..., help="Experiment id.")) -> None:
    """One experiment: status, progress and variants."""

    async def go() -> ExperimentOut:
        async with _state() as state:
            try:
                return await _view(state, experiment_id)
            except DomainError as exc:
                typer.echo(exc.detail, err=True)
                raise typer.Exit(1) from exc

    view = asyncio.run(go())
    typer.echo(f"{view.name}\ndataset {view.dataset['name']} v{view.dataset['version']}, {view.items} items")
    for v in view.variants:
        typer.echo(f"  {v.name} ({v.strategy}, v{v.version})")
    typer.echo(_summary(view))
    if view.status not in FINISHED:
        typer.echo("still running: follow it on its page (a server or `triptych worker` runs it)")
