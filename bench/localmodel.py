"""Tokens/s of the bundled model server (llama.cpp's server engine, xllamacpp, on SmolLM2-135M Q4_1), over real
HTTP on loopback, one request at a time and four at once.

    .venv/bin/python bench/localmodel.py [--requests 10] [--max-tokens 128] [--rounds 3]

Prints non-streamed and streamed generation speed and time to first token of one request at a time; then, for
four prompts of --max-tokens each (greedy, the same four every round), the wall time of the four asked one after
another against all four asked at once (streamed, with each one's first token), and the process's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.settings import BUNDLED_MODEL_ID
from app.localmodels.registry import ModelRegistry
from app.localmodels.server import create_app
from tests.servers import ServerThread

PROMPTS = [
    "Write a short paragraph about the history of trains.",
    "Explain in a few sentences why the sky is blue.",
    "List some tips for writing clear emails.",
    "Describe a busy freight warehouse in the morning.",
]


def run(url: str, requests: int, max_tokens: int) -> None:
    body = {"model": BUNDLED_MODEL_ID, "max_tokens": max_tokens, "temperature": 0.7}
    with httpx.Client(base_url=url, timeout=300) as http:
        http.post(
            "/v1/chat/completions",
            json=body | {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 8},
        )
        rates, tokens_total, wall_total = [], 0, 0.0
        for i in range(requests):
            messages = [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]
            started = time.perf_counter()
            response = http.post("/v1/chat/completions", json=body | {"messages": messages, "seed": i})
            elapsed = time.perf_counter() - started
            tokens = response.json()["usage"]["completion_tokens"]
            rates.append(tokens / elapsed)
            tokens_total += tokens
            wall_total += elapsed
        ttfts, stream_rates = [], []
        for i in range(requests):
            messages = [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]
            started = time.perf_counter()
            first = None
            with http.stream(
                "POST",
                "/v1/chat/completions",
                json=body
                | {
                    "messages": messages,
                    "seed": i,
                    "stream": True,
                    "stream_options": {"include_usage": True},
                },
            ) as response:
                usage_tokens = 0
                for line in response.iter_lines():
                    if first is None and '"content": "' in line and '"content": ""' not in line:
                        first = time.perf_counter() - started
                    if '"usage"' in line:
                        usage_tokens = int(line.split('"completion_tokens": ')[1].split(",")[0])
            elapsed = time.perf_counter() - started
            ttfts.append((first or elapsed) * 1000)
            stream_rates.append(usage_tokens / elapsed)
    print(f"model: {BUNDLED_MODEL_ID} (Q4_1), {requests} requests x up to {max_tokens} tokens")
    print(
        f"non-streamed: {tokens_total / wall_total:.1f} tokens/s overall (median {statistics.median(rates):.1f})"
    )
    print(
        f"streamed:     {statistics.median(stream_rates):.1f} tokens/s median, time to first token "
        f"p50 {statistics.median(ttfts):.0f} ms, max {max(ttfts):.0f} ms"
    )


async def _streamed(http: httpx.AsyncClient, prompt: str, max_tokens: int, started: float) -> tuple[float, float]:
    """(first token, end) of one streamed greedy answer, in s after `started`."""
    body = {
        "model": BUNDLED_MODEL_ID,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
    }
    first = None
    async with http.stream("POST", "/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if first is None and line.startswith("data: {"):
                choices = json.loads(line.removeprefix("data: "))["choices"]
                if choices and choices[0]["delta"].get("content"):
                    first = time.perf_counter() - started
    end = time.perf_counter() - started
    return first or end, end


async def batching(url: str, max_tokens: int, rounds: int) -> None:
    """Four answers one after another, then the same four at once, `rounds` times in turn."""
    sequential, together, last_first = [], [], []
    async with httpx.AsyncClient(base_url=url, timeout=300) as http:
        await _streamed(http, "Hi", 8, time.perf_counter())
        for _ in range(rounds):
            started = time.perf_counter()
            for prompt in PROMPTS:
                await _streamed(http, prompt, max_tokens, started)
            sequential.append(time.perf_counter() - started)
            started = time.perf_counter()
            answers = await asyncio.gather(*(_streamed(http, p, max_tokens, started) for p in PROMPTS))
            together.append(time.perf_counter() - started)
            last_first.append(max(first for first, _end in answers))
    ratio = statistics.median(t / s for t, s in zip(together, sequential, strict=True))
    print(
        f"four answers of up to {max_tokens} tokens: one after another {statistics.median(sequential):.2f} s, "
        f"all at once {statistics.median(together):.2f} s (median of {rounds}; at once / one after another "
        f"{ratio:.2f}); the last of the four first tokens at once: {statistics.median(last_first) * 1000:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    registry = ModelRegistry.with_bundled(n_threads=2, n_ctx=2048)
    with ServerThread(create_app(registry)) as server:
        run(server.url, args.requests, args.max_tokens)
        asyncio.run(batching(server.url, args.max_tokens, args.rounds))
    print(f"peak RSS of this process (server + client): {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
