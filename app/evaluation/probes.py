"""The bundled general-knowledge probes: questions any instruction model should answer, with references.

A fine-tune that gets them wrong after getting them right before has forgotten something (the demo's
evaluation set carries them, and every fine-tuning job's automatic evaluation does)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PROBES_FILE = Path(__file__).with_name("general_probes.jsonl")
PROBE_TAG = "general"


@dataclass(frozen=True)
class Probe:
    query: str
    reference: str
    tags: tuple[str, ...]


def general_probes() -> list[Probe]:
    with PROBES_FILE.open(encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [Probe(r["query"], r["reference"], tuple(r.get("tags", [PROBE_TAG]))) for r in rows]
