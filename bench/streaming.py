"""Streaming comparisons: the time to first token the app adds, and many viewers streaming at once.

Runs the real app (`triptych serve`, SQLite in a temp dir or a database of its own on the local PostgreSQL) in
its own process, and a fake OpenAI-compatible server in another that waits `--latency` before its first token
and then streams `--words` words `--token-delay` apart; the clients are this process.

1. Time to first token added by the app: the first text of a streamed comparison (`POST /api/v1/comparisons`
   with `"stream": true`, one variant) as a client sees it, against the first text of the same request sent
   straight to the fake server; sequential, p50 and p99 of each and of the difference.
2. Viewers: `--viewers` clients at once, each streaming its own comparison of four variants from the one web
   process; every chunk is checked (offsets contiguous, nothing repeated, the stored text equal to the deltas
   joined and to what the fake sent). Prints the time to each column's first text and the lost/reordered count.

    .venv/bin/python bench/streaming.py [--requests 100] [--viewers 50] [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import TOKEN, VARIANTS, app_beside_fake, percentile, setup  # noqa: E402
from tests.databases import blank_database  # noqa: E402
from tests.servers import free_port  # noqa: E402

COLUMNS = VARIANTS


async def sse(response: httpx.Response) -> Any:
    """(event, parsed data) per event of a text/event-stream response."""
    event, data = "message", []
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield event, json.loads("\n".join(data))
            event, data = "message", []
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


async def direct_first_text(http: httpx.AsyncClient, fake_url: str) -> float:
    """Seconds to the first answer text, straight from the fake server."""
    body = {"model": "m-0", "messages": [{"role": "user", "content": "Q?"}], "stream": True}
    started = time.perf_counter()
    async with http.stream("POST", f"{fake_url}/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: {") and '"content": "' in line and '"content": ""' not in line:
                return time.perf_counter() - started
    raise RuntimeError("no text from the fake server")


async def app_first_text(http: httpx.AsyncClient, variant_ids: list[int]) -> float:
    """Seconds to the first `delta` of a streamed comparison through the app (then read to its end)."""
    started, first = time.perf_counter(), None
    body = {"query": "Q?", "variant_ids": variant_ids, "stream": True}
    async with http.stream("POST", "/api/v1/comparisons", json=body) as response:
        response.raise_for_status()
        async for event, _data in sse(response):
            if event == "delta" and first is None:
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("the stream carried no text")
    return first


async def viewer(http: httpx.AsyncClient, variant_ids: list[int], reply: str) -> tuple[list[float], int]:
    """One viewer's streamed comparison of four columns: seconds to each column's first text, and the number of
    problems (a gap, a repeat, a delta after the end, a stored text unequal to the deltas or the reply)."""
    started = time.perf_counter()
    texts: dict[int, str] = {}
    firsts: dict[int, float] = {}
    problems = 0
    stored: set[int] = set()
    body = {"query": "Q?", "variant_ids": variant_ids, "stream": True}
    async with http.stream("POST", "/api/v1/comparisons", json=body) as response:
        response.raise_for_status()
        async for event, data in sse(response):
            if event == "delta":
                oid = data["output_id"]
                firsts.setdefault(oid, time.perf_counter() - started)
                problems += data["offset"] != len(texts.get(oid, "")) or oid in stored
                texts[oid] = texts.get(oid, "") + data["text"]
            elif event in ("done", "error", "stopped"):
                stored.add(data["id"])
                problems += event != "done" or data["text"] != texts.get(data["id"]) or data["text"] != reply
    problems += len(stored) != COLUMNS
    return list(firsts.values()), problems


async def measure(url: str, fake_url: str, requests: int, viewers: int, reply: str) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    limits = httpx.Limits(max_connections=viewers + 10, max_keepalive_connections=viewers + 10)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as http:
        ids = await setup(http, fake_url, prefix="m", strategy="few_shot")
        for _ in range(5):  # warm-up: connections, first queries
            await direct_first_text(http, fake_url)
            await app_first_text(http, ids[:1])
        direct = [await direct_first_text(http, fake_url) for _ in range(requests)]
        through = [await app_first_text(http, ids[:1]) for _ in range(requests)]
        ms = [1000 * d for d in direct], [1000 * t for t in through]
        print(f"time to first text, {requests} sequential requests (ms):")
        print(f"  straight to the fake server  p50 {percentile(ms[0], 50):7.1f}  p99 {percentile(ms[0], 99):7.1f}")
        print(f"  through the app (streamed)   p50 {percentile(ms[1], 50):7.1f}  p99 {percentile(ms[1], 99):7.1f}")
        print(f"  added by the app             p50 {percentile(ms[1], 50) - percentile(ms[0], 50):7.1f}")
        started = time.perf_counter()
        results = await asyncio.gather(*(viewer(http, ids, reply) for _ in range(viewers)))
        wall = time.perf_counter() - started
        firsts = [1000 * f for columns, _p in results for f in columns]
        problems = sum(p for _c, p in results)
        print(f"{viewers} viewers at once, {COLUMNS} columns each ({viewers * COLUMNS} model streams), {wall:.1f} s:")
        print(f"  first text per column p50 {percentile(firsts, 50):7.1f} ms  p99 {percentile(firsts, 99):7.1f} ms")
        print(f"  lost, repeated or reordered chunks, or stored text unequal to the stream: {problems}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.2, help="the fake server's time to first token, s")
    parser.add_argument("--words", type=int, default=60)
    parser.add_argument("--token-delay", type=float, default=0.02, help="seconds between streamed words")
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    reply = " ".join(f"word{i}" for i in range(args.words))
    fake_port, app_port = free_port(), free_port()
    models = ",".join(f"m-{i}" for i in range(COLUMNS))
    with tempfile.TemporaryDirectory() as tmp, blank_database(args.database, Path(tmp)) as url:
        env = os.environ | {
            "TRIPTYCH_DATA_DIR": tmp,
            "TRIPTYCH_DATABASE_URL": url,
            "TRIPTYCH_SERVE_LOCAL_MODEL": "false",
            "TRIPTYCH_LOAD_DEMO": "false",
            "TRIPTYCH_API_TOKEN": TOKEN,
            "TRIPTYCH_PORT": str(app_port),
        }
        fake_args = ["--reply", reply, "--token-delay", str(args.token_delay)]
        with app_beside_fake(env, app_port, fake_port, args.latency, models, fake_args):
            print(
                f"fake server: first token after {args.latency * 1000:.0f} ms, {args.words} words "
                f"{args.token_delay * 1000:.0f} ms apart; database: {args.database}"
            )
            asyncio.run(
                measure(
                    f"http://127.0.0.1:{app_port}", f"http://127.0.0.1:{fake_port}/v1", args.requests, args.viewers, reply
                )
            )


if __name__ == "__main__":
    main()
