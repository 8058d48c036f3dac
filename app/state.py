"""The composition root's long-lived objects, built once in the lifespan and injected into requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.accounts.auth import LoginThrottle
from app.comparisons.service import ComparisonRunner
from app.core.database import create_engine, create_session_factory
from app.core.migrate import upgrade_database
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
    logins: LoginThrottle = field(default_factory=LoginThrottle)
    leaderboards: LeaderboardCache = field(default_factory=LeaderboardCache)

    @property
    def csrf_key(self) -> bytes:
        """The secret that binds CSRF tokens to sessions (app.csrf), shared by every process."""
        return self.cipher.derive("csrf")


async def build_state(settings: Settings) -> AppState:
    """Everything long-lived, built once: migrations first, then clients."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await asyncio.to_thread(upgrade_database, settings.resolved_database_url)
    engine = create_engine(settings.resolved_database_url)
    sessions = create_session_factory(engine)
    # Long read timeout: model calls stream; each provider call sets its own per-endpoint timeout.
    # Keep-alive for as many connections as experiments keep in flight (httpx keeps only 20 by default, and
    # every request past that opened a new TCP connection: a fifth of an experiment's CPU went there).
    http = httpx.AsyncClient(
        timeout=httpx.Timeout(60.0, connect=10.0),
        follow_redirects=False,
        limits=httpx.Limits(max_connections=512, max_keepalive_connections=256),
    )
    cipher = KeyCipher.from_settings(settings.secret_key, settings.data_dir)
    # Every model call goes through the gateway (URL policy, deadline, redaction, per-endpoint figures).
    gateway = ModelGateway(build_registry(http), http, allow_private=settings.allow_private_endpoints)
    embedder = Embedder(batch_size=settings.embedding_batch_size)
    store = VectorStore(
        await asyncio.to_thread(create_chroma_client, settings.chroma_url, settings.chroma_path), embedder
    )
    # User templates render in worker processes, started on first use; close it with the state.
    templates = TemplateRenderer(budget_s=settings.template_budget_s)
    runner = ComparisonRunner(
        sessions,
        gateway,
        build_pipelines(store, templates),
        cipher,
        max_answer_chars=settings.max_answer_kb * 1024,
    )
    ingest = IngestWorker(sessions, store, batch_size=settings.embedding_batch_size)
    limits = IngestLimits(max_file_bytes=settings.ingest_max_file_mb * 1024 * 1024)
    knowledge = KnowledgeService(
        sessions, store, ingest, limits, chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap
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
        experiments.start,
    )
    return AppState(
        settings=settings,
        engine=engine,
        sessions=sessions,
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
    )
