"""The LLM judge as one more rater: every pair of answers to an item, asked in both orders; a preference
counts only when given both ways (anything else is a tie, marked inconsistent)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.catalog.service import EndpointService
from app.core.secrets import KeyCipher
from app.evaluation.judge import combine_orders, judge_messages, parse_verdict
from app.experiments.repository import ExperimentRepository, JudgePair, add_verdicts, judge_pairs
from app.models import utcnow
from app.providers.base import ChatMessage, ChatRequest, EndpointConfig, ProviderError
from app.providers.gateway import ModelGateway

log = logging.getLogger(__name__)
JUDGE_MAX_TOKENS = 60
BATCH = 20


class Judge:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], gateway: ModelGateway, cipher: KeyCipher):
        self.sessions = sessions
        self.gateway = gateway
        self.cipher = cipher

    async def __call__(self, experiment_id: int) -> None:
        async with self.sessions() as session:
            experiment = await ExperimentRepository(session).get(experiment_id)
            if experiment is None or experiment.judge_endpoint_id is None:
                return
            endpoints = EndpointService(session, self.cipher, allow_private=True)
            endpoint = await endpoints.get(experiment.judge_endpoint_id)
            config, limit = endpoints.to_config(endpoint), max(1, endpoint.max_concurrency)
            pairs = await judge_pairs(session, experiment_id)
        gate = asyncio.Semaphore(limit)
        for start in range(0, len(pairs), BATCH):
            batch = pairs[start : start + BATCH]
            rows = await asyncio.gather(*(self._judge(experiment_id, config, pair, gate) for pair in batch))
            async with self.sessions.begin() as session:
                if await ExperimentRepository(session).status(experiment_id) in ("cancelled", "failed"):
                    return
                await add_verdicts(session, rows)

    async def _ask(self, config: EndpointConfig, messages: list[dict[str, str]], gate: asyncio.Semaphore) -> str:
        request = ChatRequest(
            messages=[ChatMessage(m["role"], m["content"]) for m in messages],  # type: ignore[arg-type]
            temperature=0.0,
            max_tokens=JUDGE_MAX_TOKENS,
        )
        async with gate:
            # Through the gateway: the judge's host is checked at call time like any variant's.
            return (await self.gateway.chat(config, request)).text

    async def _judge(
        self, experiment_id: int, config: EndpointConfig, pair: JudgePair, gate: asyncio.Semaphore
    ) -> dict[str, Any]:
        row: dict[str, Any] = {
            "experiment_id": experiment_id,
            "comparison_id": pair.comparison_id,
            "output_a_id": pair.a_id,
            "output_b_id": pair.b_id,
            "created_at": utcnow(),
            "first_text": "",
            "swapped_text": "",
            "first_verdict": None,
            "swapped_verdict": None,
            "outcome": 0,
            "consistent": False,
            "error": None,
        }
        try:
            first, swapped = await asyncio.gather(
                self._ask(config, judge_messages(pair.query, pair.reference, pair.a_text, pair.b_text), gate),
                self._ask(config, judge_messages(pair.query, pair.reference, pair.b_text, pair.a_text), gate),
            )
        except ProviderError as exc:
            return row | {"error": str(exc)}  # the gateway redacted it
        v1, v2 = parse_verdict(first), parse_verdict(swapped)
        outcome = combine_orders(v1, v2)
        return row | {
            "first_text": first[:2000],
            "swapped_text": swapped[:2000],
            "first_verdict": v1,
            "swapped_verdict": v2,
            "outcome": outcome.outcome,
            "consistent": outcome.consistent,
        }
