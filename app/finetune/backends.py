"""Training backends: one interface, a registry by name (local LoRA, hosted OpenAI-compatible APIs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from app.providers.base import EndpointConfig


class TrainingFailed(Exception):
    """The job cannot finish; the message says why, for the job page."""


@dataclass(frozen=True)
class JobSpec:
    """What a backend needs to train one job (rows already as chat messages)."""

    job_id: int
    backend: str
    base_model: str
    hyperparameters: Mapping[str, Any]
    train: Sequence[list[dict[str, str]]]
    validation: Sequence[list[dict[str, str]]]
    workdir: Path
    # The result's model id, for backends that name it themselves (local); hosted APIs choose their own.
    model_id: str = ""
    # Hosted: the API to train on, and the job it already started (a resumed run polls it).
    endpoint: EndpointConfig | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class Trained:
    model_id: str
    # Local: the GGUF the bundled server serves (merged model or LoRA adapter). Hosted: None (the API serves it).
    served_path: Path | None = None
    details: Mapping[str, Any] = field(default_factory=dict)


class JobEvents(Protocol):
    """How a backend reports: progress is written to the job row; `cancelled` is read from it."""

    async def started(self, *, total_steps: int | None, external_id: str | None = None) -> None: ...

    async def step(self, step: int, loss: float | None, *, epoch: float | None = None, seconds: float | None = None) -> None: ...

    async def validation(self, epoch: float, loss: float) -> None: ...

    async def resumed_at(self, step: int) -> None: ...

    async def cancelled(self) -> bool: ...


class TrainingBackend(Protocol):
    @property
    def name(self) -> str: ...

    async def train(self, spec: JobSpec, events: JobEvents) -> Trained | None:
        """Train to the end: the result, None once cancelled, or TrainingFailed."""
        ...


class BackendRegistry:
    def __init__(self, backends: Sequence[TrainingBackend] = ()):
        self._backends = {b.name: b for b in backends}

    def register(self, backend: TrainingBackend) -> None:
        self._backends[backend.name] = backend

    def get(self, name: str) -> TrainingBackend:
        try:
            return self._backends[name]
        except KeyError:
            raise TrainingFailed(f"no training backend named {name!r}") from None

    def names(self) -> list[str]:
        return list(self._backends)
