"""Fine-tuned: the query alone (plus an optional system prompt) to a fine-tuned endpoint."""

from __future__ import annotations

from typing import ClassVar

from app.pipelines.base import PreparedPrompt, Strategy, VariantSpec, system_messages
from app.providers.base import ChatMessage


class FineTunedPipeline:
    strategy: ClassVar[Strategy] = Strategy.FINE_TUNED

    async def prepare(self, query: str, spec: VariantSpec) -> PreparedPrompt:
        """No examples, no context: the tuned weights carry the behaviour."""
        return PreparedPrompt(messages=[*system_messages(spec), ChatMessage("user", query)])
