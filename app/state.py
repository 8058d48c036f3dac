"""The long-lived objects built once in the lifespan and injected into requests."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.accounts.auth import LoginThrottle
from app.core.secrets import KeyCipher
from app.core.settings import Settings
from app.providers.registry import ProviderRegistry
from app.retrieval.store import VectorStore
from app.services.comparisons import ComparisonRunner
from app.services.ingestion import IngestWorker
from app.services.knowledge import KnowledgeService
from app.services.leaderboard import LeaderboardCache


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    http: httpx.AsyncClient
    cipher: KeyCipher
    providers: ProviderRegistry
    store: VectorStore
    ingest: IngestWorker
    knowledge: KnowledgeService
    runner: ComparisonRunner
    logins: LoginThrottle = field(default_factory=LoginThrottle)
    leaderboards: LeaderboardCache = field(default_factory=LeaderboardCache)

    @property
    def csrf_key(self) -> bytes:
        """The secret that binds CSRF tokens to sessions (app.csrf), shared by every process."""
        return self.cipher.derive("csrf")
