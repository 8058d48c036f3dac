"""Automatic metrics for one answer: overlap with the reference, key facts, format, citations, retrieval.

Every metric returns a `MetricValue`: a number, or None with a reason a user can read. None means "cannot be
scored here" (no reference, no rule, nothing retrieved), never "scored badly"; no metric returns NaN.
Citation markers such as [1] are removed from an answer before it is compared with the reference, so a RAG
answer is not marked down against variants that cannot cite.

Format rules (a regex, or a JSON Schema the answer must validate against) are checked in `format_rules`.

Citations [n] count as faithful when chunk n exists and holds at least half the content words of the citing
sentence; a sentence with no content words, or one that repeats a source label ("[1] (file.md - heading)"),
backs nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import regex

from app.evaluation.facts import extract_facts, missing_facts

# check_format_rule is re-exported: its callers know it from here.
from app.evaluation.format_rules import check_format_rule as check_format_rule
from app.evaluation.format_rules import compliance
from app.evaluation.text import CITATION_RE, content_words, sentences, strip_citations

METRIC_LABELS: Final[Mapping[str, str]] = {
    "similarity": "Similarity to reference",
    "token_f1": "Token F1",
    "key_facts": "Key facts",
    "format": "Format",
    "citation_faithfulness": "Citation faithfulness",
    "cites_sources": "Cites a source",
    "retrieval_hit": "Retrieval hit",
    "answer_words": "Words",
}
METRIC_NAMES: Final = tuple(METRIC_LABELS)  # display order

# The demo's house format: "Answer: ...", "Policy: ...", "Ask: <email>", three lines, nothing else.
HOUSE_FORMAT_RULE: Final = (
    r"\A\s*Answer:[ \t]*\S[^\n]*\r?\n"
    r"[ \t]*Policy:[ \t]*\S[^\n]*\r?\n"
    r"[ \t]*Ask:[ \t]*[^\s@]+@[^\s@]+\.[^\s@]+\s*\Z"
)

_LABEL_AFTER_MARKER_RE = regex.compile(r"[ \t]*\(([^()\n]*)\)")
_FILENAME_RE = regex.compile(r"[\w./\\-]+\.\w{1,5}\b")
_PUNCTUATION_RE = regex.compile(r"[\p{P}\p{S}]")
_ARTICLES_RE = regex.compile(r"\b(?:a|an|the)\b")
_WORDLIKE_RE = regex.compile(r"[\p{L}\p{N}]")

NO_REFERENCE = "no reference answer"
NO_CONTEXTS = "no retrieved chunks to cite"


@dataclass(frozen=True)
class MetricValue:
    """A score, or None with the reason it could not be scored; `reason` may also carry a short detail."""

    value: float | None
    reason: str = ""

    def __post_init__(self) -> None:
        if self.value is None and not self.reason:
            raise ValueError("a metric without a value needs a reason")
        if self.value is not None and not math.isfinite(self.value):
            raise ValueError(f"a metric value must be finite, not {self.value}")


def _squad_tokens(text: str) -> list[str]:
    text = _PUNCTUATION_RE.sub("", strip_citations(text).lower())
    return _ARTICLES_RE.sub(" ", text).split()


def token_f1(answer: str, reference: str) -> MetricValue:
    """SQuAD-style token F1 between answer and reference (multiset overlap after normalisation)."""
    if not reference.strip():
        return MetricValue(None, NO_REFERENCE)
    wanted = _squad_tokens(reference)
    if not wanted:
        return MetricValue(None, "the reference answer has no words left to compare")
    given = _squad_tokens(answer)
    if not given:
        return MetricValue(0.0, "the answer is empty")
    common = sum(min(given.count(token), wanted.count(token)) for token in set(given) & set(wanted))
    if common == 0:
        return MetricValue(0.0)
    precision, recall = common / len(given), common / len(wanted)
    return MetricValue(2 * precision * recall / (precision + recall))


def key_facts(reference: str) -> list[str]:
    """The facts a correct answer must contain (numbers, dates, emails, names); rules in `facts`."""
    return [fact.text for fact in extract_facts(reference)]


def key_fact_recall(answer: str, reference: str) -> MetricValue:
    """Fraction of the reference's key facts that the answer states; the missing ones in `reason`."""
    facts = extract_facts(reference)
    if not facts:
        return MetricValue(None, "the reference has no key facts (numbers, dates, names)")
    missing = missing_facts(strip_citations(answer), facts)
    reason = "missing: " + ", ".join(fact.text for fact in missing) if missing else ""
    return MetricValue((len(facts) - len(missing)) / len(facts), reason)


def format_compliance(answer: str, kind: str, rule: str) -> MetricValue:
    """1.0 if the answer follows the format rule (regex or JSON Schema; see `format_rules`), else 0.0."""
    return MetricValue(*compliance(answer, kind, rule))


def _is_source_label(label: str, sources: Sequence[str]) -> bool:
    label = label.strip().lower()
    return any(source and label.startswith(source) for source in sources) or bool(_FILENAME_RE.match(label))


@dataclass(frozen=True)
class _Citation:
    number: int
    in_range: bool
    faithful: bool


def _citations(answer: str, contexts: Sequence[Mapping[str, Any]]) -> list[_Citation]:
    sources = [str(c.get("source") or "").strip().lower() for c in contexts]
    chunks = [content_words(str(c.get("text") or "")) for c in contexts]
    citations: list[_Citation] = []
    for sentence in sentences(answer):
        markers = list(CITATION_RE.finditer(sentence))
        numbers = [int(n) for marker in markers for n in marker.group(1).split(",")]
        # "[1] (vacation.md - Allowance) ..." repeats the prompt's source list: it cites nothing.
        copied = any(
            (label := _LABEL_AFTER_MARKER_RE.match(sentence, marker.end()))
            and _is_source_label(label[1], sources)
            for marker in markers
        )
        content = content_words(strip_citations(sentence), ignore=frozenset(str(n) for n in numbers))
        for number in numbers:
            in_range = 1 <= number <= len(contexts)
            faithful = in_range and not copied and bool(content)
            if faithful:
                faithful = 2 * len(content & chunks[number - 1]) >= len(content)
            citations.append(_Citation(number, in_range, faithful))
    return citations


def _numbers(citations: Sequence[_Citation]) -> str:
    return ", ".join(f"[{n}]" for n in dict.fromkeys(c.number for c in citations))


def citation_faithfulness(answer: str, contexts: Sequence[Mapping[str, Any]]) -> MetricValue:
    """Share of citations [n] whose sentence is backed by chunk n (half its content words appear there)."""
    if not contexts:
        return MetricValue(None, NO_CONTEXTS)
    citations = _citations(answer, contexts)
    if not citations:
        return MetricValue(None, "the answer cites no source")
    problems = []
    outside = [c for c in citations if not c.in_range]
    if outside:
        problems.append(f"out of range: {_numbers(outside)} ({len(contexts)} chunks retrieved)")
    unbacked = [c for c in citations if c.in_range and not c.faithful]
    if unbacked:
        problems.append(f"not backed by the cited chunk: {_numbers(unbacked)}")
    faithful = sum(c.faithful for c in citations)
    return MetricValue(faithful / len(citations), "; ".join(problems))


def cites_sources(answer: str, contexts: Sequence[Mapping[str, Any]]) -> MetricValue:
    """1.0 if the answer cites at least one retrieved chunk by a number in range, else 0.0."""
    if not contexts:
        return MetricValue(None, NO_CONTEXTS)
    citations = _citations(answer, contexts)
    if any(c.in_range for c in citations):
        return MetricValue(1.0)
    if citations:
        return MetricValue(0.0, f"only out-of-range citations: {_numbers(citations)}")
    return MetricValue(0.0, "the answer cites no source")


def _source_key(source: str) -> str:
    return source.strip().replace("\\", "/").removeprefix("./").rsplit("/", 1)[-1].lower()


def retrieval_hit(contexts: Sequence[Mapping[str, Any]], expected_source: str) -> MetricValue:
    """1.0 if a retrieved chunk comes from the expected source (file names compared, any case), else 0.0."""
    if not expected_source.strip():
        return MetricValue(None, "the item names no expected source")
    if not contexts:
        return MetricValue(None, "no retrieved chunks")
    sources = [str(c.get("source") or "") for c in contexts]
    if any(_source_key(source) == _source_key(expected_source) for source in sources):
        return MetricValue(1.0)
    shown = list(dict.fromkeys(sources))
    more = f" and {len(shown) - 3} more" if len(shown) > 3 else ""
    return MetricValue(0.0, "retrieved: " + ", ".join(s or "(no source)" for s in shown[:3]) + more)


def answer_words(answer: str) -> MetricValue:
    """How many words the answer has (whitespace-separated, with a letter or digit; citations not counted)."""
    return MetricValue(
        float(sum(1 for token in strip_citations(answer).split() if _WORDLIKE_RE.search(token)))
    )


def cosine(a: Sequence[float], b: Sequence[float]) -> MetricValue:
    """Cosine similarity of two vectors of the same length; None if either is all zeros."""
    left, right = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if left.shape != right.shape or left.ndim != 1:
        raise ValueError(f"cannot compare vectors of shapes {left.shape} and {right.shape}")
    if not (np.isfinite(left).all() and np.isfinite(right).all()):
        return MetricValue(None, "the embedding contains values that are not numbers")
    if not (left.any() and right.any()):
        return MetricValue(None, "an embedding is all zeros, so it has no direction to compare")
    # Scaling to a largest entry of 1 keeps the norms from overflowing or underflowing; directions stay.
    left, right = left / np.abs(left).max(), right / np.abs(right).max()
    norms = float(np.linalg.norm(left)) * float(np.linalg.norm(right))
    return MetricValue(float(np.clip(float(left @ right) / norms, -1.0, 1.0)))


def reference_similarity(
    answers: list[str], references: list[str], embed: Callable[[list[str]], list[list[float]]]
) -> list[MetricValue]:
    """Cosine similarity of each answer to its reference, embedding every distinct text in one call."""
    if len(answers) != len(references):
        raise ValueError(f"{len(answers)} answers but {len(references)} references")
    pairs = [
        (answer.strip(), reference.strip()) for answer, reference in zip(answers, references, strict=True)
    ]
    texts = list(dict.fromkeys(text for pair in pairs if pair[0] and pair[1] for text in pair))
    vectors = embed(texts) if texts else []
    if len(vectors) != len(texts):
        raise ValueError(f"the embedder returned {len(vectors)} vectors for {len(texts)} texts")
    by_text = dict(zip(texts, vectors, strict=True))
    values = []
    for answer, reference in pairs:
        if not reference:
            values.append(MetricValue(None, NO_REFERENCE))
        elif not answer:
            values.append(MetricValue(0.0, "the answer is empty"))
        else:
            values.append(cosine(by_text[answer], by_text[reference]))
    return values


def score_answer(
    answer: str,
    *,
    reference: str,
    contexts: Sequence[Mapping[str, Any]],
    expected_source: str,
    format_kind: str,
    format_rule: str,
) -> dict[str, MetricValue]:
    """Every metric except the embedding similarity (which the caller computes in batch)."""
    return {
        "token_f1": token_f1(answer, reference),
        "key_facts": key_fact_recall(answer, reference),
        "format": format_compliance(answer, format_kind, format_rule),
        "citation_faithfulness": citation_faithfulness(answer, contexts),
        "cites_sources": cites_sources(answer, contexts),
        "retrieval_hit": retrieval_hit(contexts, expected_source),
        "answer_words": answer_words(answer),
    }
