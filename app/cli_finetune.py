"""`triptych finetune`: build a training set, train with a progress bar; list, show, cancel."""

from __future__ import annotations

import asyncio

import typer

from app.cli_experiments import _follow as follow_experiment
from app.cli_experiments import _refused_exits, _state
from app.core.auth import BACKGROUND
from app.finetune.presenters import job_out, training_set_out
from app.finetune.schemas import (
    FINISHED_JOBS,
    FineTuneJobIn,
    FineTuneJobOut,
    HyperparametersIn,
    TrainingSetIn,
)
from app.finetune.service import FineTuneService, TrainingSetService
from app.state import AppState

finetune_cli = typer.Typer(help="Fine-tuning: training sets and jobs.", no_args_is_help=True)


async def _view(state: AppState, job_id: int) -> FineTuneJobOut:
    async with state.sessions() as session:
        return job_out(await FineTuneService(session, state.cipher).summary(job_id))


async def _training_set_id(state: AppState, name_or_id: str) -> int:
    async with state.sessions() as session:
        rows = [(s.training_set.id, s.training_set.name) for s in await TrainingSetService(session, BACKGROUND).recent(limit=1000)]
    for row_id, name in rows:
        if name_or_id in (str(row_id), name):
            return row_id
    typer.echo(f"no training set named {name_or_id!r}; known: {', '.join(n for _i, n in rows)}", err=True)
    raise typer.Exit(2)


def _summary(view: FineTuneJobOut) -> str:
    loss = f", loss {view.losses[-1].loss:.3f}" if view.losses else ""
    model = f", model {view.result_model}" if view.result_model else ""
    evaluation = f", evaluation experiment {view.evaluation_experiment_id}" if view.evaluation_experiment_id else ""
    error = f" ({view.error})" if view.error else ""
    return f"job {view.id} {view.status}: step {view.step}/{view.total_steps or '?'}{loss}{model}{evaluation}{error}"


async def _follow(state: AppState, job_id: int) -> FineTuneJobOut:
    """Train (this process works the fine-tuning queue; the trainer is a child process), drawing the steps
    until the job finishes. With PostgreSQL a worker process may take the job instead: the bar follows it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    await state.jobs.work(["finetune"])
    await state.jobs.enqueue("finetune", job_id)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[detail]}"), TimeRemainingColumn())
    with Progress(*columns) as progress:
        bar = progress.add_task("steps", total=None, detail="loading the model")
        while True:
            view = await _view(state, job_id)
            detail = f"epoch {view.epoch:.2f}, loss {view.losses[-1].loss:.3f}" if view.losses else view.status
            progress.update(bar, total=view.total_steps, completed=view.step, detail=detail)
            if view.status in FINISHED_JOBS:
                break
            await asyncio.sleep(0.5)
    return await _view(state, job_id)


@finetune_cli.command("build")
def build(
    name: str = typer.Argument(..., help="A name for the training set."),
    example_set: int = typer.Option(None, help="Example set id."),
    corrections: bool = typer.Option(False, help="Add raters' corrected answers."),
    top_rated: bool = typer.Option(False, help="Add the best-ranked answer of each rated comparison."),
    min_score: float = typer.Option(4.0, help="Mean score (1-5) a top-rated answer needs."),
    validation: float = typer.Option(0.2, help="Share of prompts held out for validation."),
    seed: int = typer.Option(0),
    knowledge_base: int = typer.Option(None, help="Also each row with this knowledge base's sources (for the hybrid)."),
) -> None:
    """Build a training set (deduplicated, split by prompt, with lineage)."""

    async def go() -> str:
        async with _state() as state:
            data = TrainingSetIn(
                name=name, example_set_id=example_set, include_corrections=corrections, include_top_rated=top_rated,
                min_score=min_score, validation_fraction=validation, seed=seed, knowledge_base_id=knowledge_base,
            )
            async with _refused_exits(), state.sessions.begin() as session:
                training_set = await TrainingSetService(session, BACKGROUND, state.store).build(data, "cli")
            async with state.sessions() as session:
                view = training_set_out(await TrainingSetService(session, BACKGROUND).summary(training_set.id))
            return f"training set {view.id}: {view.train_count} train, {view.validation_count} validation, {view.duplicates_dropped} duplicates dropped"

    typer.echo(asyncio.run(go()))


@finetune_cli.command("start")
def start(
    training_set: str = typer.Argument(..., help="Training set name or id."),
    epochs: int = typer.Option(HyperparametersIn().epochs, min=1, max=20),
    rank: int = typer.Option(HyperparametersIn().rank, min=1, max=64),
    learning_rate: float = typer.Option(HyperparametersIn().learning_rate),
    evaluate: bool = typer.Option(True, help="Run the before/after experiment when done."),
) -> None:
    """Fine-tune the bundled model here, with a progress bar (Ctrl+C stops; the next server start resumes it)."""

    async def go() -> FineTuneJobOut:
        async with _state() as state:
            data = FineTuneJobIn(
                training_set_id=await _training_set_id(state, training_set),
                hyperparameters=HyperparametersIn(epochs=epochs, rank=rank, learning_rate=learning_rate),
                evaluate=evaluate,
            )
            async with _refused_exits(), state.sessions.begin() as session:
                job = await FineTuneService(session, state.cipher).create(data, "cli")
            typer.echo(f"job {job.id}")
            view = await _follow(state, job.id)
            if view.evaluation_experiment_id:
                typer.echo(f"evaluating: experiment {view.evaluation_experiment_id}")
                await follow_experiment(state, view.evaluation_experiment_id)
            return await _view(state, job.id)

    typer.echo(_summary(asyncio.run(go())))


@finetune_cli.command("cancel")
def cancel(job_id: int = typer.Argument(..., help="Job id.")) -> None:
    """Stop a job (the process running it sees it within a second)."""

    async def go() -> FineTuneJobOut:
        async with _state() as state:
            async with _refused_exits(), state.sessions.begin() as session:
                await FineTuneService(session, state.cipher).cancel(job_id)
            await state.jobs.cancel("finetune", job_id)  # withdrawn if it still waits in the queue
            return await _view(state, job_id)

    typer.echo(_summary(asyncio.run(go())))


@finetune_cli.command("list")
def list_jobs() -> None:
    """Recent jobs with their status."""

    async def go() -> list[FineTuneJobOut]:
        async with _state() as state, state.sessions() as session:
            service = FineTuneService(session, state.cipher)
            return [job_out(j) for j in await service.recent(limit=50)]

    for view in asyncio.run(go()):
        typer.echo(f"{view.id:>5}  {view.status:<10} {view.step:>5}/{view.total_steps or '?':<5} {view.training_set_name}  {view.result_model or ''}")


@finetune_cli.command("show")
def show(job_id: int = typer.Argument(..., help="Job id.")) -> None:
    """One job: status, progress, the model and its evaluation."""

    async def go() -> FineTuneJobOut:
        async with _state() as state, _refused_exits():
            return await _view(state, job_id)

    view = asyncio.run(go())
    typer.echo(f"{view.training_set_name} ({view.backend}, base {view.base_model}, {view.hyperparameters})")
    typer.echo(_summary(view))
    if view.status not in FINISHED_JOBS:
        typer.echo("still running: follow it on its page")
