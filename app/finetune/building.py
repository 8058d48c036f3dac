"""Turning candidate rows into a training set: drop duplicates, split train/validation by prompt, seeded.

Pure: the repository gathers the candidates, this decides which become rows and where they go."""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Candidate:
    prompt: str
    completion: str
    source_kind: str
    source_id: int
    comparison_id: int | None = None
    rejected: str | None = None
    # Rows with one group go to the same side of the split (a question and its copy with sources); "" = prompt.
    group: str = ""


@dataclass(frozen=True)
class Row(Candidate):
    split: str = "train"
    position: int = 0


@dataclass(frozen=True)
class Built:
    rows: list[Row]
    duplicates_dropped: int


def _key(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip().casefold()


def deduplicate(candidates: Iterable[Candidate]) -> tuple[list[Candidate], int]:
    """Keep the first of every (prompt, answer) pair, compared without case and spacing; a correction or a
    top-rated answer that repeats an example adds nothing but weight."""
    seen: set[tuple[str, str]] = set()
    kept: list[Candidate] = []
    dropped = 0
    for candidate in candidates:
        key = (_key(candidate.prompt), _key(candidate.completion))
        if not key[0] or not key[1]:
            dropped += 1
            continue
        if key in seen:
            dropped += 1
            continue
        seen.add(key)
        kept.append(candidate)
    return kept, dropped


def split(candidates: Sequence[Candidate], fraction: float, seed: int) -> list[Row]:
    """Assign whole prompts to one side: two answers to the same question never straddle the split (the
    validation loss would then measure memory). At least one prompt is held out when asked for any and
    there are two or more; the training side is never emptied."""
    prompts = list(dict.fromkeys(_key(c.group or c.prompt) for c in candidates))
    random.Random(seed).shuffle(prompts)
    held = round(len(prompts) * fraction)
    if fraction > 0 and held == 0 and len(prompts) >= 2:
        held = 1
    held = min(held, len(prompts) - 1) if prompts else 0
    validation = set(prompts[:held])
    return [
        Row(**vars(c), split="validation" if _key(c.group or c.prompt) in validation else "train", position=i)
        for i, c in enumerate(candidates)
    ]


def build(candidates: Iterable[Candidate], fraction: float, seed: int) -> Built:
    kept, dropped = deduplicate(candidates)
    return Built(split(kept, fraction, seed), dropped)


WITH_SOURCES = "+sources"  # suffix of a source kind: the row's prompt carries retrieved sources


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.casefold()) if len(w) > 2}


def with_citation(answer: str, sources: Sequence[str]) -> str:
    """The answer citing, as `[n]` at the end of its first line, the source it shares the most words with
    (none when it shares none): what a RAG answer that states the fact and cites it looks like."""
    words = _words(answer)
    overlaps = [len(words & _words(s)) for s in sources]
    if not overlaps or max(overlaps) == 0:
        return answer
    n = overlaps.index(max(overlaps)) + 1
    first, newline, rest = answer.partition("\n")
    return f"{first.rstrip()} [{n}]{newline}{rest}"
