"""The training worker's cache of the de-quantised base: found without loading anything, and a cache that
cannot be written sends the job to its own folder instead of failing it."""

from __future__ import annotations

from pathlib import Path

import transformers

from app.training.lora import base_folder
from app.training.worker import _writable_cache


def test_a_cached_base_is_found_without_reading_the_gguf(tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"not read: the cache is keyed by name, size and time")
    stat = gguf.stat()
    cached = tmp_path / "cache" / f"model-{stat.st_size}-{stat.st_mtime_ns}-transformers-{transformers.__version__}"
    cached.mkdir(parents=True)
    (cached / "config.json").write_text("{}")
    assert base_folder(gguf, tmp_path / "cache") == cached
    assert _writable_cache(gguf, tmp_path / "cache", tmp_path / "job") == tmp_path / "cache"


def test_an_unwritable_cache_falls_back_to_the_job_folder(tmp_path: Path) -> None:
    (tmp_path / "blocked").write_text("a file where the cache folder should be")
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"x")
    assert _writable_cache(gguf, tmp_path / "blocked" / "cache", tmp_path / "job") == tmp_path / "job" / "training-base"
