"""The multi-process deployment under load: raters and people asking questions against several web processes
and a job worker on PostgreSQL, while the worker runs an experiment.

Starts (each in a process of its own) a fake OpenAI-compatible server answering in --latency seconds,
`chroma run`, `triptych serve --workers 2 --no-jobs` and `triptych worker`, on a throwaway database of the
local PostgreSQL; then for --seconds: --raters clients each fetch a comparison blind and POST a rating, and
--askers clients each POST a comparison (four variants on the fake) and wait for its answers. Prints
requests/s, p50/p95/p99 per route, the 5xx count, and writes lost (ratings and comparisons answered 2xx but
not stored, outputs not finished).

    .venv/bin/python bench/load.py [--seconds 60] [--raters 50] [--askers 20] [--web 2] [--latency 0.2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.settings import to_sync_url  # noqa: E402
from bench.fanout import percentile, wait_for  # noqa: E402
from tests.databases import blank_database  # noqa: E402
from tests.servers import free_port  # noqa: E402

TOKEN = "tt_bench-load-token"
VARIANTS = 4
DIMENSIONS = ("correctness", "helpfulness", "format")
SEEDED = 300  # comparisons asked before the clock starts, for the raters


class Recorder:
    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.server_errors = 0
        self.other_errors: dict[str, int] = defaultdict(int)

    async def call(self, http: httpx.AsyncClient, route: str, method: str, url: str, **kwargs: object) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await http.request(method, url, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            self.other_errors[f"{route}: {type(exc).__name__}"] += 1
            return None
        self.latencies[route].append(time.perf_counter() - started)
        if response.status_code >= 500:
            self.server_errors += 1
        elif response.status_code >= 400:
            self.other_errors[f"{route}: {response.status_code}"] += 1
        return response


async def make_raters(database_url: str, n: int) -> list[str]:
    """Rater accounts and their tokens, written straight to the database (as `triptych users/tokens` would)."""
    from app.accounts.service import create_token
    from app.core.database import create_engine, create_session_factory
    from app.models import User

    engine = create_engine(database_url)
    tokens = []
    async with create_session_factory(engine).begin() as session:
        for r in range(n):
            user = User(name=f"rater-{r}", role="rater")
            session.add(user)
            await session.flush()
            tokens.append(await create_token(session, "load", user))
    await engine.dispose()
    return tokens


async def setup(http: httpx.AsyncClient, fake_url: str, items: int) -> int:
    variant_ids = []
    for i in range(VARIANTS):
        endpoint = await http.post(
            "/api/v1/endpoints",
            json={"name": f"fake-{i}", "base_url": fake_url, "model": f"fixed-{i}", "max_concurrency": 8},
        )
        endpoint.raise_for_status()
        variant = await http.post(
            "/api/v1/variants", json={"name": f"variant-{i}", "strategy": "fine_tuned", "endpoint_id": endpoint.json()["id"]}
        )
        variant.raise_for_status()
        variant_ids.append(variant.json()["id"])
    semaphore = asyncio.Semaphore(20)

    async def seed(i: int) -> None:
        async with semaphore:
            (await http.post("/api/v1/comparisons", json={"query": f"seeded question {i}"})).raise_for_status()

    await asyncio.gather(*(seed(i) for i in range(SEEDED)))
    dataset = await http.post("/api/v1/datasets", json={"name": "load", "items": [{"query": f"item {i}"} for i in range(items)]})
    dataset.raise_for_status()
    experiment = await http.post("/api/v1/experiments", json={"dataset_id": dataset.json()["id"], "variant_ids": variant_ids})
    experiment.raise_for_status()
    return int(experiment.json()["id"])


async def load(urls: list[str], tokens: list[str], askers: int, seconds: float, recorder: Recorder) -> tuple[set[tuple[int, int]], set[int]]:
    """Raters and askers until the clock runs out; returns what the server said it stored."""
    rated: set[tuple[int, int]] = set()
    asked: set[int] = set()
    deadline = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=200)

    async def rater(r: int) -> None:
        rng = random.Random(r)
        order = list(range(1, SEEDED + 1))
        rng.shuffle(order)
        async with httpx.AsyncClient(base_url=urls[r % len(urls)], timeout=60, limits=limits,
                                     headers={"Authorization": f"Bearer {tokens[r]}"}) as http:
            for comparison_id in order:
                if time.monotonic() > deadline:
                    return
                blind = await recorder.call(http, "GET /api/v1/comparisons/{id}/blind", "GET", f"/api/v1/comparisons/{comparison_id}/blind")
                if blind is None or blind.status_code != 200:
                    continue
                labels = [o["label"] for o in blind.json()["outputs"]]
                body = {
                    "scores": {label: {d: rng.randint(1, 5) for d in DIMENSIONS} for label in labels},
                    "ranking": {label: rng.randint(1, len(labels)) for label in labels},
                }
                posted = await recorder.call(http, "POST /api/v1/comparisons/{id}/ratings", "POST",
                                             f"/api/v1/comparisons/{comparison_id}/ratings", json=body)
                if posted is not None and posted.status_code == 201:
                    rated.add((r, comparison_id))

    async def asker(a: int) -> None:
        async with httpx.AsyncClient(base_url=urls[a % len(urls)], timeout=60, limits=limits,
                                     headers={"Authorization": f"Bearer {TOKEN}"}) as http:
            i = 0
            while time.monotonic() < deadline:
                i += 1
                posted = await recorder.call(http, "POST /api/v1/comparisons", "POST", "/api/v1/comparisons",
                                             json={"query": f"asker {a} question {i}"})
                if posted is not None and posted.status_code == 201:
                    asked.add(int(posted.json()["id"]))

    await asyncio.gather(*(rater(r) for r in range(len(tokens))), *(asker(a) for a in range(askers)))
    return rated, asked


def lost_writes(database_url: str, rated: set[tuple[int, int]], asked: set[int]) -> tuple[int, int, int]:
    engine = sa.create_engine(to_sync_url(database_url))
    with engine.connect() as db:
        stored_ratings = {
            (int(name.removeprefix("rater-")), cid)
            for name, cid in db.execute(sa.text("SELECT u.name, r.comparison_id FROM ratings r JOIN users u ON u.name = r.rater"))
        }
        stored_comparisons = {cid for (cid,) in db.execute(sa.text("SELECT id FROM comparisons"))}
        unfinished = db.execute(
            sa.text("SELECT count(*) FROM outputs WHERE status <> 'done' AND comparison_id = ANY(:ids)"), {"ids": list(asked)}
        ).scalar_one()
    engine.dispose()
    return len(rated - stored_ratings), len(asked - stored_comparisons), int(unfinished)


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--raters", type=int, default=50)
    parser.add_argument("--askers", type=int, default=20)
    parser.add_argument("--web", type=int, default=2, help="web processes")
    parser.add_argument("--latency", type=float, default=0.2, help="the fake model's answer time, s")
    parser.add_argument("--items", type=int, default=500, help="items of the experiment the worker runs meanwhile")
    args = parser.parse_args()
    fake_port, chroma_port, web_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp, blank_database("postgresql", Path(tmp)) as url:
        logs = Path(tmp)
        env = os.environ | {
            "TRIPTYCH_DATABASE_URL": url,
            "TRIPTYCH_CHROMA_URL": f"http://127.0.0.1:{chroma_port}",
            "TRIPTYCH_DATA_DIR": str(logs / "data"),
            "TRIPTYCH_SECRET_KEY": "1KoPfI_QCWb2vUfjYjhYavsF8gsZj4UsD7fJd95NIhM=",
            "TRIPTYCH_API_TOKEN": TOKEN,
            "TRIPTYCH_SERVE_LOCAL_MODEL": "false",
            "TRIPTYCH_LOCAL_MODEL_URL": "http://127.0.0.1:9/v1",
            "TRIPTYCH_LOAD_DEMO": "false",
            "TRIPTYCH_PORT": str(web_port),
        }
        models = ",".join(f"fixed-{i}" for i in range(VARIANTS))
        processes = [
            start([sys.executable, "-m", "tests.fakes.fake_openai", "--port", str(fake_port), "--latency", str(args.latency),
                   "--models", models], env, logs / "fake.log"),
            start([str(Path(sys.executable).parent / "chroma"), "run", "--path", str(logs / "chroma"), "--host", "127.0.0.1",
                   "--port", str(chroma_port)], env, logs / "chroma.log"),
        ]
        try:
            subprocess.run([sys.executable, "-m", "app.cli", "migrate"], cwd=ROOT, env=env, check=True, capture_output=True)
            processes.append(start([sys.executable, "-m", "app.cli", "serve", "--workers", str(args.web), "--no-jobs"], env, logs / "web.log"))
            processes.append(start([sys.executable, "-m", "app.cli", "worker"], env, logs / "worker.log"))
            base = f"http://127.0.0.1:{web_port}"
            wait_for(f"{base}/readyz", timeout=180)
            tokens = asyncio.run(make_raters(url, args.raters))

            async def prepare() -> int:
                async with httpx.AsyncClient(base_url=base, timeout=60, headers={"Authorization": f"Bearer {TOKEN}"}) as http:
                    return await setup(http, f"http://127.0.0.1:{fake_port}/v1", args.items)

            experiment_id = asyncio.run(prepare())
            recorder = Recorder()
            started = time.perf_counter()
            rated, asked = asyncio.run(load([base], tokens, args.askers, args.seconds, recorder))
            elapsed = time.perf_counter() - started
            progress = httpx.get(f"{base}/api/v1/experiments/{experiment_id}", headers={"Authorization": f"Bearer {TOKEN}"}).json()
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=60)
        lost_ratings, lost_comparisons, unfinished = lost_writes(url, rated, asked)

    total = sum(len(v) for v in recorder.latencies.values())
    print(f"{args.raters} raters + {args.askers} askers, {args.web} web processes + 1 worker, PostgreSQL, "
          f"fake model {args.latency * 1000:.0f} ms, {elapsed:.0f} s")
    print(f"  {total / elapsed:.0f} requests/s; 5xx: {recorder.server_errors}; other errors: {dict(recorder.other_errors) or 0}")
    for route, values in sorted(recorder.latencies.items()):
        print(f"  {route:<44} {len(values):>6}  p50 {percentile(values, 50) * 1000:6.0f} ms  "
              f"p95 {percentile(values, 95) * 1000:6.0f} ms  p99 {percentile(values, 99) * 1000:6.0f} ms")
    print(f"  writes lost: {lost_ratings} of {len(rated)} ratings, {lost_comparisons} of {len(asked)} comparisons, "
          f"{unfinished} outputs of answered comparisons not finished")
    p = progress["progress"]
    print(f"  meanwhile the worker's experiment: {p['done']} of {p['total']} answered ({progress['status']})")


if __name__ == "__main__":
    main()
