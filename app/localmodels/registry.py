"""Models this server can serve: the bundled base, and later LoRA adapters on top of it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from app.core.settings import BUNDLED_MODEL_ID
from app.localmodels.engine import LlamaCppEngine
from app.localmodels.weights import bundled_gguf_path


@dataclass(frozen=True)
class ModelSpec:
    model_id: str
    gguf_path: Path
    lora_path: Path | None = None
    description: str = ""
    owned_by: str = "triptych"


class UnknownModel(KeyError):
    pass


class ModelRegistry:
    """Model ids -> specs; engines load lazily on first use and are shared by all requests."""

    def __init__(self, *, n_threads: int = 2, n_ctx: int = 2048):
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self._specs: dict[str, ModelSpec] = {}
        self._engines: dict[str, LlamaCppEngine] = {}
        self._lock = asyncio.Lock()

    @classmethod
    def with_bundled(cls, *, n_threads: int = 2, n_ctx: int = 2048) -> ModelRegistry:
        """A registry serving the bundled SmolLM2-135M-Instruct."""
        registry = cls(n_threads=n_threads, n_ctx=n_ctx)
        registry.register(
            ModelSpec(
                BUNDLED_MODEL_ID, bundled_gguf_path(), description="SmolLM2-135M-Instruct Q4_1 (bundled)"
            )
        )
        return registry

    def register(self, spec: ModelSpec) -> None:
        """Add or replace a model (a replaced model's engine is reloaded on next use)."""
        self._specs[spec.model_id] = spec
        self._engines.pop(spec.model_id, None)

    def unregister(self, model_id: str) -> None:
        self._specs.pop(model_id, None)
        self._engines.pop(model_id, None)

    def list(self) -> list[ModelSpec]:
        return list(self._specs.values())

    def spec(self, model_id: str) -> ModelSpec:
        try:
            return self._specs[model_id]
        except KeyError:
            raise UnknownModel(model_id) from None

    async def engine(self, model_id: str) -> LlamaCppEngine:
        """The loaded engine for a model id; loads it (off the event loop) on first use."""
        spec = self.spec(model_id)
        async with self._lock:
            engine = self._engines.get(model_id)
            if engine is None:
                engine = LlamaCppEngine(
                    spec.gguf_path, lora_path=spec.lora_path, n_threads=self.n_threads, n_ctx=self.n_ctx
                )
                await engine.load()
                self._engines[model_id] = engine
        return engine

    async def aclose(self) -> None:
        engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            await engine.aclose()
