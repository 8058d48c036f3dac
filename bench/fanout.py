"""App overhead per comparison: wall time minus the slowest variant, against fake fixed-latency endpoints.

Runs the real app (SQLite in a temp dir, or a database of its own on the local PostgreSQL) on a real uvicorn server in its own process, and four variants on a
fake OpenAI-compatible server (another process) that answers after a fixed delay; the client is this process.
Prints p50/p99 overhead, sequential and with concurrent clients.

    .venv/bin/python bench/fanout.py [--comparisons 200] [--latency 0.2] [--concurrency 8] \
        [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.databases import blank_database  # noqa: E402
from tests.servers import free_port  # noqa: E402

TOKEN = "tt_bench-token"
VARIANTS = 4


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def setup(
    http: httpx.AsyncClient, fake_url: str, prefix: str = "fixed", strategy: str = "fine_tuned"
) -> list[int]:
    """VARIANTS variants, each on an endpoint of its own for the fake's model `{prefix}-{i}`; their ids."""
    ids = []
    for i in range(VARIANTS):
        endpoint = await http.post(
            "/api/v1/endpoints", json={"name": f"fake-{i}", "base_url": fake_url, "model": f"{prefix}-{i}"}
        )
        endpoint.raise_for_status()
        variant = await http.post(
            "/api/v1/variants",
            json={"name": f"variant-{i}", "strategy": strategy, "endpoint_id": endpoint.json()["id"]},
        )
        variant.raise_for_status()
        ids.append(variant.json()["id"])
    return ids


async def one(http: httpx.AsyncClient, i: int) -> float:
    """Overhead of one comparison in ms: wall time minus its slowest variant's latency."""
    started = time.perf_counter()
    response = await http.post("/api/v1/comparisons", json={"query": f"question {i}"})
    wall = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    outputs = response.json()["outputs"]
    assert all(o["error"] is None for o in outputs), outputs
    return wall - max(o["latency_ms"] for o in outputs)


async def measure(url: str, fake_url: str, n: int, concurrency: int) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as http:
        await setup(http, fake_url)
        for _ in range(5):  # warm-up: connections, first queries
            await one(http, -1)
        sequential = [await one(http, i) for i in range(n)]
        semaphore = asyncio.Semaphore(concurrency)

        async def bounded(i: int) -> float:
            async with semaphore:
                return await one(http, i)

        started = time.perf_counter()
        concurrent = await asyncio.gather(*(bounded(i) for i in range(n)))
        throughput = n / (time.perf_counter() - started)
    print(f"variants per comparison: {VARIANTS}, comparisons: {n}")
    for label, values in (("sequential", sequential), (f"{concurrency} concurrent clients", concurrent)):
        print(
            f"{label:>24}: overhead p50 {percentile(values, 50):6.1f} ms   p99 {percentile(values, 99):6.1f} ms"
            f"   mean {statistics.fmean(values):6.1f} ms"
        )
    print(f"{'throughput':>24}: {throughput:.1f} comparisons/s at {concurrency} concurrent clients")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--comparisons", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.2, help="fixed latency of each fake variant, s")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql"), default="sqlite", help="PostgreSQL: the local server"
    )
    args = parser.parse_args()
    fake_port, app_port = free_port(), free_port()
    models = ",".join(f"fixed-{i}" for i in range(VARIANTS))
    with tempfile.TemporaryDirectory() as tmp, blank_database(args.database, Path(tmp)) as url:
        env = os.environ | {
            "TRIPTYCH_DATA_DIR": tmp,
            "TRIPTYCH_DATABASE_URL": url,
            "TRIPTYCH_SERVE_LOCAL_MODEL": "false",
            "TRIPTYCH_LOAD_DEMO": "false",
            "TRIPTYCH_API_TOKEN": TOKEN,
            "TRIPTYCH_PORT": str(app_port),
        }
        with app_beside_fake(env, app_port, fake_port, args.latency, models):
            print(f"fake variant latency: {args.latency * 1000:.0f} ms; database: {args.database}")
            asyncio.run(
                measure(
                    f"http://127.0.0.1:{app_port}",
                    f"http://127.0.0.1:{fake_port}/v1",
                    args.comparisons,
                    args.concurrency,
                )
            )


@contextmanager
def app_beside_fake(
    env: dict[str, str], app_port: int, fake_port: int, latency: float, models: str, fake_args: Sequence[str] = ()
) -> Iterator[None]:
    """`triptych serve` and the fake OpenAI-compatible server (`fake_args`: more of its options), each in a
    process of its own, until exit."""
    fake = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakes.fake_openai",
            "--port",
            str(fake_port),
            "--latency",
            str(latency),
            "--models",
            models,
            *fake_args,
        ],
        cwd=ROOT,
    )
    try:
        with served_app(env, app_port):
            wait_for(f"http://127.0.0.1:{fake_port}/v1/models")
            yield
    finally:
        fake.terminate()
        fake.wait(timeout=30)


@contextmanager
def served_app(env: dict[str, str], port: int, ready: str = "/healthz", timeout: float = 120) -> Iterator[str]:
    """`triptych serve` in a process of its own, until exit; yields its URL once `ready` answers 200."""
    app = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(url + ready, timeout)
        yield url
    finally:
        app.terminate()
        app.wait(timeout=60)


def wait_for(url: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not come up")


if __name__ == "__main__":
    main()
