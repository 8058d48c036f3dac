"""Models this server can serve: the bundled base and the models fine-tuned from it (LoRA adapters applied on
the one loaded base, chosen per request; or merged GGUF models, each loaded on its own)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from app.core.settings import BUNDLED_MODEL_ID
from app.localmodels.engine import BatchingEngine
from app.localmodels.gguf_header import NotGGUF, gguf_type
from app.localmodels.weights import bundled_gguf_path

log = logging.getLogger(__name__)


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
    """Model ids -> specs. One engine per model file, loaded on first use and shared by every request: the
    bundled base serves itself and every adapter of it (one copy of the base in memory), a merged model
    serves itself. An adapter that appears later (a fine-tune finished) loads a new engine for the base with
    it; the old one is unloaded once the requests it is answering are done."""

    def __init__(
        self, *, n_threads: int = 2, n_ctx: int = 2048, parallel: int = 4, adapters_dir: Path | None = None
    ):
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.parallel = parallel
        # Fine-tuned models (GGUF), one file per model id: merged models, or LoRA adapters served on top of
        # the bundled base. Read from the folder, so a model trained by another process (the CLI) is served
        # without a restart.
        self.adapters_dir = adapters_dir
        self._specs: dict[str, ModelSpec] = {}
        self._skipped: set[tuple[Path, float]] = set()  # (file, mtime): a replaced file is read again
        self._engines: dict[Path, BatchingEngine] = {}  # by model file
        self._retiring: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()

    @classmethod
    def with_bundled(
        cls, *, n_threads: int = 2, n_ctx: int = 2048, parallel: int = 4, adapters_dir: Path | None = None
    ) -> ModelRegistry:
        """A registry serving the bundled SmolLM2-135M-Instruct and the models fine-tuned from it."""
        registry = cls(n_threads=n_threads, n_ctx=n_ctx, parallel=parallel, adapters_dir=adapters_dir)
        registry.register(
            ModelSpec(
                BUNDLED_MODEL_ID, bundled_gguf_path(), description="SmolLM2-135M-Instruct Q4_1 (bundled)"
            )
        )
        registry.refresh_adapters()
        return registry

    def register_adapter(self, model_id: str, adapter: Path) -> None:
        """Serve a LoRA adapter of the bundled model under its own id."""
        self.register(
            ModelSpec(
                model_id,
                bundled_gguf_path(),
                lora_path=adapter,
                description=f"LoRA fine-tune of {BUNDLED_MODEL_ID} ({adapter.name})",
            )
        )

    def register_merged(self, model_id: str, model: Path) -> None:
        """Serve a fine-tuned model merged into a GGUF of its own under its id."""
        self.register(ModelSpec(model_id, model, description=f"fine-tune of {BUNDLED_MODEL_ID}, merged ({model.name})"))

    def refresh_adapters(self) -> None:
        """Pick up fine-tuned models that appeared in the folder (finished files only: writers rename into
        place). Each file's header says whether it is a model or an adapter; anything else is skipped, since
        llama.cpp takes a process down when handed the wrong kind."""
        if self.adapters_dir is None or not self.adapters_dir.is_dir():
            return
        for path in sorted(self.adapters_dir.glob("*.gguf")):
            if path.stem in self._specs:
                continue
            try:
                seen = (path, path.stat().st_mtime)
                if seen in self._skipped:
                    continue
                kind = gguf_type(path)
            except (OSError, NotGGUF) as exc:
                seen, kind = (path, 0.0), f"unreadable ({exc})"
            if kind == "adapter":
                self.register_adapter(path.stem, path)
            elif kind == "model":
                self.register_merged(path.stem, path)
            else:
                self._skipped.add(seen)
                log.warning("not serving %s: a GGUF of type %s, neither a model nor a LoRA adapter", path, kind)

    def register(self, spec: ModelSpec) -> None:
        """Add or replace a model (an engine that lacks it is replaced on its next use)."""
        self._specs[spec.model_id] = spec

    def unregister(self, model_id: str) -> None:
        self._specs.pop(model_id, None)

    def list(self) -> list[ModelSpec]:
        self.refresh_adapters()
        return list(self._specs.values())

    def spec(self, model_id: str) -> ModelSpec:
        if model_id not in self._specs:
            self.refresh_adapters()
        try:
            return self._specs[model_id]
        except KeyError:
            raise UnknownModel(model_id) from None

    async def engine(self, model_id: str) -> tuple[BatchingEngine, Path | None]:
        """The loaded engine that serves a model id, and the adapter to ask it for (None: the model itself);
        loads it (off the event loop) on first use."""
        spec = self.spec(model_id)
        async with self._lock:
            engine = self._engines.get(spec.gguf_path)
            if engine is None or not engine.serves(spec.lora_path):
                adapters = sorted(
                    {s.lora_path for s in self._specs.values() if s.gguf_path == spec.gguf_path and s.lora_path}
                )
                replacement = BatchingEngine(
                    spec.gguf_path,
                    adapters=adapters,
                    n_threads=self.n_threads,
                    n_ctx=self.n_ctx,
                    parallel=self.parallel,
                )
                await replacement.load()
                self._engines[spec.gguf_path] = replacement
                if engine is not None:
                    self._retire(engine)
                engine = replacement
        return engine, spec.lora_path

    def _retire(self, engine: BatchingEngine) -> None:
        task = asyncio.create_task(engine.aclose(), name="retire-engine")
        self._retiring.add(task)
        task.add_done_callback(self._retiring.discard)

    async def aclose(self) -> None:
        engines, self._engines = list(self._engines.values()), {}
        await asyncio.gather(*(engine.aclose() for engine in engines), *self._retiring)
