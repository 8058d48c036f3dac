"""The bundled model server's folder of fine-tuned models: each GGUF's header says whether it is a merged model
(served on its own) or a LoRA adapter (served on the bundled base); any other file is skipped, never handed to
llama.cpp, which takes the process down when given the wrong kind."""

from __future__ import annotations

import os
from pathlib import Path

import gguf
import numpy as np
import pytest

from app.localmodels.gguf_header import NotGGUF, gguf_type
from app.localmodels.registry import ModelRegistry
from app.localmodels.weights import bundled_gguf_path


def _gguf(path: Path, general_type: str | None, *, extra_keys: int = 0) -> Path:
    writer = gguf.GGUFWriter(str(path), "llama")
    # Keys before general.type, of several kinds (arrays of strings and numbers): the reader skips them.
    for i in range(extra_keys):
        writer.add_array(f"test.strings.{i}", ["a", "bc", "déf"])
        writer.add_array(f"test.numbers.{i}", [1, 2, 3])
        writer.add_float32(f"test.float.{i}", 0.5)
    if general_type is not None:
        writer.add_string("general.type", general_type)
    writer.add_tensor("t.weight", np.zeros((2, 2), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_the_header_says_model_or_adapter(tmp_path: Path) -> None:
    assert gguf_type(_gguf(tmp_path / "a.gguf", "adapter", extra_keys=3)) == "adapter"
    assert gguf_type(_gguf(tmp_path / "m.gguf", "model")) == "model"
    assert gguf_type(_gguf(tmp_path / "old.gguf", None, extra_keys=2)) == "model"  # older converters omit it
    assert gguf_type(bundled_gguf_path()) == "model"


def test_files_that_are_not_gguf_are_refused(tmp_path: Path) -> None:
    (tmp_path / "text.gguf").write_text("not a model")
    with pytest.raises(NotGGUF):
        gguf_type(tmp_path / "text.gguf")
    whole = _gguf(tmp_path / "whole.gguf", "adapter", extra_keys=2).read_bytes()
    (tmp_path / "cut.gguf").write_bytes(whole[:60])
    with pytest.raises(NotGGUF):
        gguf_type(tmp_path / "cut.gguf")


def test_the_registry_serves_each_kind_its_way_and_skips_the_rest(tmp_path: Path) -> None:
    folder = tmp_path / "adapters"
    folder.mkdir()
    adapter = _gguf(folder / "ft-lora.gguf", "adapter")
    merged = _gguf(folder / "ft-merged.gguf", "model")
    _gguf(folder / "vocab-only.gguf", "vocab")
    (folder / "broken.gguf").write_bytes(b"GGUF\x03")
    registry = ModelRegistry.with_bundled(adapters_dir=folder)
    ids = {spec.model_id: spec for spec in registry.list()}
    assert set(ids) == {"smollm2-135m-instruct", "ft-lora", "ft-merged"}
    assert ids["ft-lora"].gguf_path == bundled_gguf_path() and ids["ft-lora"].lora_path == adapter
    assert ids["ft-merged"].gguf_path == merged and ids["ft-merged"].lora_path is None
    # A skipped file that is replaced (a newer mtime) is read again.
    _gguf(folder / "broken.gguf", "model")
    os.utime(folder / "broken.gguf", (1e9, 2e9))
    assert "broken" in {spec.model_id for spec in registry.list()}
