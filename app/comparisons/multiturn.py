"""Comparison sessions: a conversation with several variants at once.

Each turn is a comparison of the session's variant versions (fixed when the session starts, so an edit to a
variant never changes a conversation half way). Each variant's prompt carries its own conversation: the
earlier questions and its own earlier answers, never another variant's. A pipeline builds a turn's messages as
it builds any comparison's (a RAG variant retrieves for this turn's question); the history goes after the
system prompt and worked examples, before this turn's question.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.providers.base import ChatMessage

# Earlier turns a variant's prompt carries at most: the bundled model has 2,048 tokens of context a slot.
MAX_HISTORY_TURNS = 8
# What an answer must be to continue a conversation: a failed answer leaves its turn out of that variant's
# history (the question too: the variant never answered it).
CONTINUES = frozenset({"done", "stopped"})


@dataclass(frozen=True)
class EarlierTurn:
    """One earlier turn as one variant saw it."""

    query: str
    answer: str


def history_messages(turns: Sequence[EarlierTurn]) -> tuple[ChatMessage, ...]:
    """The latest MAX_HISTORY_TURNS turns as user/assistant messages."""
    messages: list[ChatMessage] = []
    for turn in turns[-MAX_HISTORY_TURNS:]:
        messages += [ChatMessage("user", turn.query), ChatMessage("assistant", turn.answer)]
    return tuple(messages)


def with_history(messages: list[ChatMessage], history: Sequence[ChatMessage]) -> list[ChatMessage]:
    """A prepared prompt with the conversation so far before its last message (this turn's question)."""
    if not history:
        return messages
    return [*messages[:-1], *history, messages[-1]]


def histories(
    earlier: Sequence[tuple[str, Sequence[tuple[int, str, str]]]], version_ids: Sequence[int]
) -> dict[int, tuple[ChatMessage, ...]]:
    """Each variant version's history from the earlier turns, in order: (question, [(version id, status,
    text)]) each."""
    by_version: dict[int, list[EarlierTurn]] = {version_id: [] for version_id in version_ids}
    for query, outputs in earlier:
        for version_id, status, text in outputs:
            if version_id in by_version and status in CONTINUES and text.strip():
                by_version[version_id].append(EarlierTurn(query, text))
    return {version_id: history_messages(turns) for version_id, turns in by_version.items()}
