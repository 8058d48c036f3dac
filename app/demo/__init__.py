"""Demo content for Larkspur Logistics, a fictional company (see README.md in this folder)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DEMO_DIR = Path(__file__).resolve().parent


def read_jsonl(name: str) -> list[dict[str, Any]]:
    """Rows of a JSONL file shipped in this folder."""
    with (DEMO_DIR / name).open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def knowledge_files() -> list[Path]:
    return sorted((DEMO_DIR / "knowledge").glob("*.md"))
