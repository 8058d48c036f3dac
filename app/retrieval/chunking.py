"""Split text into overlapping chunks on paragraph and sentence boundaries, tracking Markdown headings."""

from __future__ import annotations

import re
from dataclasses import dataclass

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")


@dataclass(frozen=True)
class TextChunk:
    position: int
    heading: str
    text: str


def _blocks(text: str) -> list[tuple[str, str]]:
    """(heading, paragraph) pairs; a heading line names the paragraphs under it."""
    heading, blocks = "", []
    for raw in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [ln for ln in raw.strip().splitlines() if ln.strip()]
        body: list[str] = []
        for line in lines:
            match = _HEADING.match(line.strip())
            if match:
                if body:
                    blocks.append((heading, " ".join(body)))
                    body = []
                heading = match.group(2).strip()
            else:
                body.append(line.strip())
        if body:
            blocks.append((heading, " ".join(body)))
    return blocks


def _pieces(paragraph: str, size: int) -> list[str]:
    """A paragraph as pieces no longer than `size`: whole sentences where possible."""
    if len(paragraph) <= size:
        return [paragraph]
    pieces: list[str] = []
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > size:  # a run-on "sentence": cut at the last space before the limit
            cut = sentence.rfind(" ", 0, size)
            cut = cut if cut > size // 2 else size
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if sentence:
            pieces.append(sentence)
    return pieces


def chunk_text(text: str, *, size: int = 800, overlap: int = 120) -> list[TextChunk]:
    """Pack paragraphs (or sentences of long ones) into chunks of about `size` characters.

    Consecutive chunks under the same heading share up to `overlap` characters of whole sentences,
    so a fact cut at a boundary is still retrievable whole.
    """
    if size < 50 or not 0 <= overlap < size:
        raise ValueError("chunk size must be at least 50 and overlap between 0 and size")
    chunks: list[TextChunk] = []
    current: list[str] = []
    current_heading = ""

    def flush() -> None:
        if current:
            chunks.append(TextChunk(len(chunks), current_heading, " ".join(current)))

    for heading, paragraph in _blocks(text):
        for piece in _pieces(paragraph, size):
            length = sum(len(p) + 1 for p in current)
            if current and (heading != current_heading or length + len(piece) > size):
                flush()
                carried: list[str] = []
                if heading == current_heading:
                    for prev in reversed(current):
                        if sum(len(p) + 1 for p in carried) + len(prev) > overlap:
                            break
                        carried.insert(0, prev)
                current = carried
            current_heading = heading
            current.append(piece)
    flush()
    return chunks
