"""The composition root's long-lived objects: built and closed in one place (`open_state`), so the web
lifespan, the CLI commands and the worker command start and stop the same way."""

from __future__ import annotations

import asyncio
import functools
import logging
import ssl
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.accounts.auth import LoginThrottle
from app.comparisons.service import ComparisonRunner
from app.core.database import create_engine, create_lookup_session_factory, create_session_factory
from app.core.jobs import JobKernel, open_kernel
from app.core.migrate import upgrade_database
from app.core.observability import observe_model_call
from app.core.secrets import KeyCipher
from app.core.settings import Settings
from app.experiments.judging import Judge
from app.experiments.runner import ExperimentRunner
from app.experiments.schemas import ExperimentIn
from app.experiments.scoring import Scorer
from app.experiments.service import ExperimentService
from app.finetune.backends import BackendRegistry
from app.finetune.hosted import HostedFineTuning
from app.finetune.local import LocalLoraBackend
from app.finetune.publishing import Publisher
from app.finetune.runner import FineTuneRunner
from app.ingest.limits import IngestLimits
from app.knowledge.ingestion import IngestWorker
from app.knowledge.service import KnowledgeService
from app.leaderboard.service import LeaderboardCache
from app.localmodels.weights import bundled_gguf_path
from app.pipelines import build_pipelines
from app.prompts.bounded import TemplateRenderer
from app.providers.gateway import ModelGateway
from app.providers.registry import build_registry
from app.retrieval.embeddings import Embedder
from app.retrieval.store import VectorStore, create_chroma_client


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    lookups: async_sessionmaker[AsyncSession]  # a request's opening lookup (who is asking)
    http: httpx.AsyncClient
    cipher: KeyCipher
    gateway: ModelGateway
    store: VectorStore
    ingest: IngestWorker
    knowledge: KnowledgeService
    runner: ComparisonRunner
    experiments: ExperimentRunner
    finetune: FineTuneRunner
    templates: TemplateRenderer
    jobs: JobKernel
    logins: LoginThrottle = field(default_factory=LoginThrottle)
    leaderboards: LeaderboardCache = field(default_factory=LeaderboardCache)

    @property
    def csrf_key(self) -> bytes:
        """The secret that binds CSRF tokens to sessions (app.csrf), shared by every process."""
        return self.cipher.derive("csrf")


log = logging.getLogger("triptych")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The system's CA bundle, read once per process (35 ms a read; the tests build an app per test)."""
    return ssl.create_default_context()


@asynccontextmanager
async def open_state(settings: Settings) -> AsyncIterator[AppState]:
    """Everything long-lived, built once (migrations first, then clients) and closed in reverse order:
    jobs running here stop first (they go back to the queue, or resume at the next start), then the
    comparisons this process runs, then the clients they used."""
    async with AsyncExitStack() as stack:
        yield await _build(settings, stack)


async def _build(settings: Settings, stack: AsyncExitStack) -> AppState:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade_database, settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    stack.push_async_callback(engine.dispose)
    sessions = create_session_factory(engine)
    # Long read timeout: model calls stream; each provider call sets its own per-endpoint timeout.
    # Keep-alive for as many connections as experiments keep in flight (httpx keeps only 20 by default, and
    # every request past that opened a new TCP connection: a fifth of an experiment's CPU went there).
    http = httpx.AsyncClient(
        verify=tls_context(),
        timeout=httpx.Timeout(60.0, connect=10.0),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=512, max_keepalive_connections=256),
    )
    stack.push_async_callback(http.aclose)
    cipher = KeyCipher.from_settings(settings.secret_key, settings.data_dir)
    # Every model call goes through the gateway (URL policy, deadline, redaction, per-endpoint figures).
    gateway = ModelGateway(
        build_registry(http), http, allow_private=settings.allow_private_endpoints, observe=observe_model_call
    )
    embedder = Embedder(batch_size=settings.embedding_batch_size)
    store = VectorStore(
        await asyncio.to_thread(create_chroma_client, settings.chroma_url, settings.chroma_path), embedder
    )
    # User templates render in worker processes, started on first use; close it with the state.
    templates = TemplateRenderer(budget_s=settings.template_budget_s)
    stack.push_async_callback(templates.aclose)
    runner = ComparisonRunner(
        sessions,
        gateway,
        build_pipelines(store, templates),
        cipher,
        max_answer_chars=settings.max_answer_kb * 1024,
        lease_s=settings.lease_s,
    )
    stack.push_async_callback(runner.shutdown)
    jobs = await open_kernel(
        settings.resolved_database_url, engine, lease_s=settings.lease_s, concurrency=settings.job_concurrency
    )
    stack.push_async_callback(jobs.aclose)
    ingest = IngestWorker(sessions, store, batch_size=settings.embedding_batch_size)
    limits = IngestLimits(max_file_bytes=settings.ingest_max_file_mb * 1024 * 1024)
    knowledge = KnowledgeService(
        sessions,
        store,
        ingest,
        lambda job_id: jobs.enqueue("ingest", job_id),
        limits,
        chunk_size=settings.chunk_size,
        chunk_overlap=settings.chunk_overlap,
    )
    phases = (("scoring", Scorer(sessions, embedder.embed)), ("judging", Judge(sessions, gateway, cipher)))
    experiments = ExperimentRunner(sessions, runner, phases)

    async def create_experiment(session: AsyncSession, dataset_id: int, variant_ids: list[int], name: str) -> int:
        experiment = await ExperimentService(session, cipher).create(
            ExperimentIn(dataset_id=dataset_id, variant_ids=variant_ids, name=name), "fine-tuning"
        )
        return experiment.id

    backends = BackendRegistry(
        [
            LocalLoraBackend(
                bundled_gguf_path,
                settings.adapters_dir,
                cache_dir=settings.training_cache_dir,
                threads=settings.finetune_threads,
                serve=settings.finetune_serve,
            ),
            HostedFineTuning(gateway),
        ]
    )
    finetune = FineTuneRunner(
        sessions,
        backends,
        Publisher(cipher, settings.resolved_local_model_url),
        settings.finetune_dir,
        create_experiment,
        lambda experiment_id: jobs.enqueue("experiment", experiment_id),
    )
    # The kinds of background work, one definition each (queues let a worker take only some of them).
    jobs.define("ingest", "ingest", ingest.run, ingest.recover)
    jobs.define("experiment", "experiments", experiments.run, experiments.unfinished)
    jobs.define("finetune", "finetune", finetune.run, finetune.unfinished)
    return AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
        lookups=create_lookup_session_factory(engine),
        http=http,
        cipher=cipher,
        gateway=gateway,
        store=store,
        ingest=ingest,
        knowledge=knowledge,
        runner=runner,
        experiments=experiments,
        finetune=finetune,
        templates=templates,
        jobs=jobs,
    )


async def start_working(state: AppState, queues: list[str] | None = None) -> None:
    """Make this process a job worker: unfinished work of these queues is enqueued again (idempotently: a
    job a live worker holds is not run twice), then jobs are taken from the queue until the state closes."""
    resumed = await state.jobs.recover(queues)
    for kind, keys in resumed.items():
        log.warning("resuming %d unfinished %s job(s)", len(keys), kind)
    await state.jobs.work(queues)
