"""The batching engine's slot accounting: a request that is given up on still holds its slot until the engine
is done with it, so the next request's wait is measured (X-Queue-Ms) instead of hidden in the engine's queue;
a stream whose reader leaves frees its slot at the next token."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from app.localmodels.engine import BatchingEngine
from app.localmodels.weights import bundled_gguf_path

pytestmark = pytest.mark.model

COUNTING = [{"role": "user", "content": "Count from 1 to 500, separated by commas."}]


@pytest.fixture
async def engine() -> AsyncIterator[BatchingEngine]:
    one_slot = BatchingEngine(bundled_gguf_path(), n_threads=2, n_ctx=1024, parallel=1)
    await one_slot.load()
    yield one_slot
    await one_slot.aclose()


async def test_a_cancelled_answer_keeps_its_slot_until_the_engine_is_done(engine: BatchingEngine) -> None:
    long = {"messages": COUNTING, "max_tokens": 120, "temperature": 0}
    given_up = asyncio.create_task(engine.complete("chat", long))
    await asyncio.sleep(0.3)  # decoding is under way
    given_up.cancel()
    short = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4, "temperature": 0}
    served = await engine.complete("chat", short)
    assert given_up.cancelled()
    assert served.queue_ms > 100  # it waited for the first answer's slot, and says so


async def test_a_stream_left_early_frees_its_slot_at_the_next_token(engine: BatchingEngine) -> None:
    long = {"messages": COUNTING, "max_tokens": 400, "temperature": 0}
    stream = engine.stream("chat", long)
    async for _chunk in stream:
        break
    started = time.perf_counter()
    await stream.aclose()
    served = await engine.complete("chat", {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4})
    assert time.perf_counter() - started < 2  # not the 400 tokens' 4 s
    assert served.queue_ms < 100
