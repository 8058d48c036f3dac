"""Models this server can serve: the bundled base and the models fine-tuned from it (merged GGUF models, or
LoRA adapters applied on the base at run time)."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from app.core.settings import BUNDLED_MODEL_ID
from app.localmodels.engine import LlamaCppEngine
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
    """Model ids -> specs; engines load lazily on first use and are shared by all requests."""

    def __init__(self, *, n_threads: int = 2, n_ctx: int = 2048, adapters_dir: Path | None = None):
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        # Fine-tuned models (GGUF), one file per model id: merged models, or LoRA adapters served on top of
        # the bundled base. Read from the folder, so a model trained by another process (the CLI) is served
        # without a restart.
        self.adapters_dir = adapters_dir
        self._specs: dict[str, ModelSpec] = {}
        self._skipped: set[tuple[Path, float]] = set()  # (file, mtime): a replaced file is read again
        self._engines: dict[str, LlamaCppEngine] = {}
        # One generation at a time across every model (see LlamaCppEngine): the cores are not shared.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama")
        self._lock = asyncio.Lock()

    @classmethod
    def with_bundled(cls, *, n_threads: int = 2, n_ctx: int = 2048, adapters_dir: Path | None = None) -> ModelRegistry:
        """A registry serving the bundled SmolLM2-135M-Instruct and the adapters fine-tuned from it."""
        registry = cls(n_threads=n_threads, n_ctx=n_ctx, adapters_dir=adapters_dir)
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
        """Add or replace a model (a replaced model's engine is reloaded on next use)."""
        self._specs[spec.model_id] = spec
        self._engines.pop(spec.model_id, None)

    def unregister(self, model_id: str) -> None:
        self._specs.pop(model_id, None)
        self._engines.pop(model_id, None)

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

    async def engine(self, model_id: str) -> LlamaCppEngine:
        """The loaded engine for a model id; loads it (off the event loop) on first use."""
        spec = self.spec(model_id)
        async with self._lock:
            engine = self._engines.get(model_id)
            if engine is None:
                engine = LlamaCppEngine(
                    spec.gguf_path,
                    lora_path=spec.lora_path,
                    n_threads=self.n_threads,
                    n_ctx=self.n_ctx,
                    executor=self._executor,
                )
                await engine.load()
                self._engines[model_id] = engine
        return engine

    async def aclose(self) -> None:
        engines, self._engines = list(self._engines.values()), {}
        for engine in engines:
            await engine.aclose()
        await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
