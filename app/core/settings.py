"""Settings: the only place that reads the environment (prefix TRIPTYCH_)."""

from __future__ import annotations

import ipaddress
import os
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

BUNDLED_MODEL_ID = "smollm2-135m-instruct"


class Settings(BaseSettings):
    """Runtime configuration; defaults run everything embedded under `data_dir`."""

    model_config = SettingsConfigDict(env_prefix="TRIPTYCH_", env_file=".env", extra="ignore")

    data_dir: Path = Path("data")
    # One URL switches to PostgreSQL, e.g. postgresql+psycopg://user@127.0.0.1:5432/triptych
    database_url: str | None = None
    # Set to use Chroma's client/server mode (several app processes); unset = embedded PersistentClient.
    chroma_url: str | None = None

    host: str = "127.0.0.1"
    port: int = 8000
    # Mount the bundled OpenAI-compatible model server at /local inside the app.
    serve_local_model: bool = True
    # Where variants reach the bundled model; defaults to this app's own /local mount.
    local_model_url: str | None = None
    local_model_threads: int = Field(default=2, ge=1)
    # Context window of each request (tokens), and how many requests the bundled model decodes together
    # (a comparison's four variants at once); each slot holds a KV cache of local_model_context tokens.
    local_model_context: int = Field(default=2048, ge=256)
    local_model_parallel: int = Field(default=4, ge=1, le=64)

    # Encrypts endpoint API keys at rest; generated into data_dir/secret.key when unset.
    secret_key: str | None = None
    # The first API token; generated into data_dir/api-token when unset.
    api_token: str | None = None
    # The sign-in page offers a one-click local admin while no account has a password, and only when
    # the server is bound to a loopback address.
    local_admin: bool = True
    # Mark session cookies Secure even over plain HTTP (set behind an HTTPS-terminating proxy).
    secure_cookies: bool = False
    # Origins besides the one a request arrives on that may send forms, comma-separated
    # (e.g. "https://triptych.example.com" behind a proxy that rewrites Host).
    trusted_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Longest model answer stored, in kilobytes (characters); longer answers are cut and marked truncated.
    max_answer_kb: int = Field(default=64, ge=1, le=10_240)
    # Endpoints on private/loopback networks (Ollama, vLLM on the LAN) are allowed by default;
    # link-local and cloud metadata addresses never are.
    allow_private_endpoints: bool = True

    # Longest a variant's context template may take to render (once per RAG answer) before it is stopped.
    template_budget_s: float = Field(default=2.0, gt=0, le=60)

    embedding_batch_size: int = 64
    # Ingestion limits and defaults (see app/ingest/limits.py for the zip and PDF caps).
    ingest_max_file_mb: int = Field(default=25, ge=1)
    ingest_max_request_mb: int = Field(default=200, ge=1)
    chunk_size: int = Field(default=800, ge=50)
    chunk_overlap: int = Field(default=120, ge=0)
    load_demo: bool = True
    # On the demo's first start, fine-tune the bundled model on the demo examples in the background, so the
    # fine-tuned variants run a real fine-tune within minutes. Off: they stay on the base model until you
    # start a job.
    demo_finetune: bool = True
    # CPU threads a local fine-tuning worker uses (the bundled model server keeps answering beside it).
    finetune_threads: int = Field(default=2, ge=1)
    # What the bundled model server serves for a local fine-tune: the adapter merged into the model (Q8_0,
    # about 140 MB, 0.88-0.93x the base's decoding speed) or the LoRA adapter applied on the shared base at run
    # time (19 MB, 0.75-0.81x; measured by bench/finetune.py). The other form stays in the job's folder.
    finetune_serve: Literal["merged", "adapter"] = "merged"
    # Log lines as text, or as one JSON object per line (for a log collector); both carry the request id.
    log_format: Literal["text", "json"] = "text"
    # prometheus-client's multiprocess mode (its own variable, without our prefix): with several web
    # processes, /metrics adds up every process's counters kept in this folder.
    prometheus_multiproc_dir: Path | None = Field(default=None, validation_alias="PROMETHEUS_MULTIPROC_DIR")
    # Background jobs (ingestion, experiments, fine-tuning). Whether `triptych serve` works jobs itself (the
    # single-box default; with PostgreSQL, `--no-jobs` leaves them to `triptych worker` processes).
    work_jobs: bool = True
    # Jobs one process runs at once.
    job_concurrency: int = Field(default=4, ge=1, le=64)
    # Seconds a process may go silent before its work counts as lost: a worker that has not beaten its
    # heartbeat for this long gives its jobs back to the queue, and a comparison's answer whose process has
    # not renewed its lease is marked interrupted. Shorter recovers sooner; too short mistakes a busy process
    # for a dead one.
    lease_s: float = Field(default=30.0, ge=1.0, le=3600.0)
    # Derived files worth keeping between data folders (the bundled model de-quantised for training, ~520 MB,
    # saves 20-30 s at every job's start); safe to delete.
    cache_dir: Path = Field(
        default_factory=lambda: Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "triptych"
    )

    @field_validator("trusted_origins", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().rstrip("/") for part in value.split(",") if part.strip()]
        return value

    @cached_property
    def resolved_database_url(self) -> str:
        """The async SQLAlchemy URL (SQLite file under data_dir by default)."""
        if self.database_url:
            return to_async_url(self.database_url)
        return f"sqlite+aiosqlite:///{(self.data_dir / 'triptych.db').resolve()}"

    @property
    def chroma_path(self) -> Path:
        return self.data_dir / "chroma"

    @property
    def adapters_dir(self) -> Path:
        """Fine-tuned models the bundled model server serves, one GGUF per model id: a merged model or a LoRA
        adapter of the bundled base (the server tells them apart by the file's own `general.type`)."""
        return self.data_dir / "adapters"

    @property
    def training_cache_dir(self) -> Path:
        """The bundled model de-quantised for training, one folder per GGUF and transformers version."""
        return self.cache_dir / "training-base"

    @property
    def finetune_dir(self) -> Path:
        """Fine-tuning jobs' working folders (training data, checkpoints, worker logs)."""
        return self.data_dir / "finetune"

    @property
    def resolved_local_model_url(self) -> str:
        """Base URL (ending in /v1) of the bundled model server."""
        if self.local_model_url:
            return self.local_model_url.rstrip("/")
        return f"http://{self.host}:{self.port}/local/v1"

    @property
    def bound_to_loopback(self) -> bool:
        """True when the server listens on a loopback interface only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


def to_async_url(url: str) -> str:
    """Map a plain database URL to its async driver (aiosqlite, psycopg)."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def to_sync_url(url: str) -> str:
    """Map an async database URL to a sync driver, for Alembic."""
    return url.replace("sqlite+aiosqlite://", "sqlite://")


def get_settings() -> Settings:
    """Build settings from the environment."""
    return Settings()
