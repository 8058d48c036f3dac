"""Leaderboard speed over 100k ratings, and rating POST throughput on one worker.

1. Fills a fresh database (a SQLite file, or a throwaway database on the local PostgreSQL) with N ratings as
   stored before migration 0005 (comparisons of 4 variants, each rated by 4 of 40 raters on the 3 default rubric
   dimensions, with rankings and shuffled display orders), then migrates it, which digests every rating into the
   leaderboard's aggregates. Times the statistics alone (means + t intervals, Bradley-Terry with 1,000 bootstrap
   fits, win rates, P(best), Krippendorff's alpha per dimension, position bias) and the whole leaderboard
   including the database read, cold, filtered and cached.
2. Starts the real app (uvicorn, one worker, on the same kind of database) in its own process with variants on a
   fake model server, and POSTs ratings from concurrent clients: requests/s.

    .venv/bin/python bench/leaderboard.py [--ratings 100000] [--posts 1000] [--concurrency 8]
        [--database sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.auth import BACKGROUND  # noqa: E402
from app.core.database import create_engine, create_session_factory  # noqa: E402
from app.core.filters import Filters  # noqa: E402
from app.core.migrate import upgrade_database  # noqa: E402
from app.core.settings import to_sync_url  # noqa: E402
from app.leaderboard.service import (  # noqa: E402
    LeaderboardCache,
    LeaderboardService,
    summarise,
)
from bench.fanout import app_beside_fake  # noqa: E402
from tests.databases import blank_database  # noqa: E402
from tests.servers import free_port  # noqa: E402

VARIANTS, RATERS_PER_ITEM, RATER_POOL = 4, 4, 40
DIMENSIONS = ("correctness", "helpfulness", "format")
TOKEN = "tt_bench-token"


def fill(url: str, n_ratings: int) -> None:
    """Rows straight into the tables as of migration 0004 (the ORM would take minutes); variant v is better
    than v+1 on average."""
    rng = random.Random(1)
    now = datetime.now(UTC)
    engine = sa.create_engine(to_sync_url(url))
    with engine.begin() as db:
        _fill(db, rng, now, n_ratings)
    engine.dispose()


def _fill(db: sa.Connection, rng: random.Random, now: datetime, n_ratings: int) -> None:
    mark = "%s" if db.dialect.name == "postgresql" else "?"

    def run(sql: str, rows: Any) -> None:
        db.exec_driver_sql(sql.replace("?", mark), rows)

    run(
        "INSERT INTO endpoints (id, name, kind, base_url, model, timeout_s, is_bundled, is_fine_tuned, created_at) "
        "VALUES (1, 'e', 'openai', 'http://127.0.0.1:9/v1', 'm', 60, false, false, ?)",
        (now,),
    )
    for v in range(1, VARIANTS + 1):
        run(
            "INSERT INTO variants (id, name, strategy, description, created_at) VALUES (?, ?, 'few_shot', '', ?)",
            (v, f"v{v}", now),
        )
        run(
            "INSERT INTO variant_versions (id, variant_id, version, config_hash, endpoint_id, system_prompt, temperature,"
            " top_p, max_tokens, few_shot_k, few_shot_selection, top_k, min_score, use_mmr, created_at)"
            " VALUES (?, ?, 1, 'h', 1, '', 0.2, 1, 256, 0, 'first', 4, 0, false, ?)",
            (v, v, now),
        )
    comparisons = n_ratings // RATERS_PER_ITEM
    outputs, ratings, scores = [], [], []
    rating_id = 0
    for c in range(1, comparisons + 1):
        ids = [(c - 1) * VARIANTS + v for v in range(1, VARIANTS + 1)]
        outputs += [
            (oid, c, v, v - 1, "done", f"answer {oid}", now) for v, oid in zip(range(1, 5), ids, strict=True)
        ]
        for rater in rng.sample(range(RATER_POOL), RATERS_PER_ITEM):
            rating_id += 1
            quality = {oid: rng.gauss(4 - 0.3 * i, 0.8) for i, oid in enumerate(ids)}
            order = ids[:]
            rng.shuffle(order)
            distinct = sorted({round(q) for q in quality.values()}, reverse=True)
            ranking = {str(oid): distinct.index(round(q)) + 1 for oid, q in quality.items()}
            ratings.append(
                (rating_id, c, f"rater-{rater}", "", json.dumps(order), json.dumps(ranking), "", now)
            )
            for oid, q in quality.items():
                for d in DIMENSIONS:
                    scores.append((rating_id, oid, d, min(5, max(1, round(q + rng.gauss(0, 0.5))))))
    run(
        "INSERT INTO comparisons (id, query, created_by, dataset, created_at) VALUES (?, ?, 'bench', 'bench', ?)",
        [(c, f"question {c}", now) for c in range(1, comparisons + 1)],
    )
    run(
        "INSERT INTO outputs (id, comparison_id, variant_version_id, position, status, text, model, contexts,"
        " prompt, created_at) VALUES (?, ?, ?, ?, ?, ?, 'm', '[]', '[]', ?)",
        outputs,
    )
    run(
        "INSERT INTO ratings (id, comparison_id, rater, comment, display_order, ranking, corrected_answer, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        ratings,
    )
    run("INSERT INTO rating_scores (rating_id, output_id, dimension, score) VALUES (?, ?, ?, ?)", scores)


async def time_leaderboard(url: str, runs: int = 3) -> None:
    engine = create_engine(url)
    sessions = create_session_factory(engine)
    totals, loads, stats, cached, filtered = [], [], [], [], []
    cache = LeaderboardCache()
    async with sessions() as session:
        for _ in range(runs):
            started = time.perf_counter()
            data = await LeaderboardService(session, BACKGROUND).load(Filters())
            loaded = time.perf_counter()
            board = summarise(data, [])
            done = time.perf_counter()
            loads.append(loaded - started)
            stats.append(done - loaded)
            started = time.perf_counter()
            whole = await LeaderboardService(session, BACKGROUND).compute()
            totals.append(time.perf_counter() - started)
            started = time.perf_counter()
            await LeaderboardService(session, BACKGROUND).compute(Filters(dataset="bench"))
            filtered.append(time.perf_counter() - started)
        await LeaderboardService(session, BACKGROUND, cache).compute()
        for _ in range(runs):
            started = time.perf_counter()
            await LeaderboardService(session, BACKGROUND, cache).compute()
            cached.append(time.perf_counter() - started)
    await engine.dispose()
    print(f"ratings: {board.ratings}, raters: {board.raters}, variants: {len(board.standings)}")
    print(
        f"  statistics (1,000 bootstrap fits, alpha x3, intervals): {statistics.median(stats) * 1000:7.0f} ms"
    )
    print(f"  database read and aggregation:                      {statistics.median(loads) * 1000:7.0f} ms")
    print(f"  whole leaderboard, cold (read + statistics):        {statistics.median(totals) * 1000:7.0f} ms")
    print(
        f"  the same, filtered by dataset (joins comparisons): {statistics.median(filtered) * 1000:7.0f} ms"
    )
    print(f"  whole leaderboard, no rating changed since:         {statistics.median(cached) * 1000:7.0f} ms")
    order = [s.name for s in whole.standings]
    print(f"  ranking {order}; P(best) {[round(s.p_best, 2) for s in whole.standings]}")


async def post_ratings(base: str, fake_url: str, posts: int, concurrency: int, database: str) -> None:
    admin = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        for v in range(VARIANTS):
            endpoint = await http.post(
                "/api/v1/endpoints",
                json={"name": f"e{v}", "base_url": fake_url, "model": f"fixed-{v}"},
                headers=admin,
            )
            endpoint.raise_for_status()
            variant = await http.post(
                "/api/v1/variants",
                json={"name": f"v{v}", "strategy": "fine_tuned", "endpoint_id": endpoint.json()["id"]},
                headers=admin,
            )
            variant.raise_for_status()
        raters = []
        for r in range(concurrency):
            await http.post("/api/v1/users", json={"name": f"r{r}", "role": "rater"}, headers=admin)
            raters.append(r)
        per_rater = -(-posts // concurrency)
        comparisons = []
        for i in range(per_rater):
            response = await http.post("/api/v1/comparisons", json={"query": f"q{i}"}, headers=admin)
            comparisons.append(response.json()["id"])
        # Tokens for the raters come from the CLI in real life; here the admin token's user API is not theirs,
        # so each rater gets one through the service token: create them via the users' own token endpoint.
        tokens = await asyncio.to_thread(_rater_tokens, concurrency)
        body = {
            "scores": {label: dict.fromkeys(DIMENSIONS, 4) for label in "ABCD"},
            "ranking": dict(A=1, B=2, C=2, D=3),
        }

        async def rater(r: int) -> list[float]:
            took = []
            headers = {"Authorization": f"Bearer {tokens[r]}"}
            for cid in comparisons:
                started = time.perf_counter()
                response = await http.post(f"/api/v1/comparisons/{cid}/ratings", json=body, headers=headers)
                took.append(time.perf_counter() - started)
                assert response.status_code == 201, response.text
            return took

        started = time.perf_counter()
        latencies = [t for ts in await asyncio.gather(*(rater(r) for r in raters)) for t in ts]
        elapsed = time.perf_counter() - started
    latencies.sort()
    print(
        f"rating POSTs: {len(latencies)} from {concurrency} concurrent raters on one uvicorn worker ({database})"
    )
    print(
        f"  throughput {len(latencies) / elapsed:.0f} requests/s; latency p50 {latencies[len(latencies) // 2] * 1000:.0f} ms,"
        f" p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms"
    )


def _rater_tokens(n: int) -> list[str]:
    """Tokens for users r0..rN, made the way an operator would: `triptych tokens create --user`."""
    tokens = []
    for r in range(n):
        made = subprocess.run(
            [sys.executable, "-m", "app.cli", "tokens", "create", "--user", f"r{r}", "--name", "bench"],
            cwd=ROOT,
            env=_ENV,
            capture_output=True,
            text=True,
            check=True,
        )
        tokens.append(made.stdout.strip().splitlines()[-1])
    return tokens


_ENV: dict[str, str] = {}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ratings", type=int, default=100_000)
    parser.add_argument("--posts", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument(
        "--database", choices=("sqlite", "postgresql"), default="sqlite", help="PostgreSQL: the local server"
    )
    args = parser.parse_args()
    print(f"on {args.database}")
    with tempfile.TemporaryDirectory() as tmp, blank_database(args.database, Path(tmp)) as url:
        # Ratings go in as they were stored before the leaderboard's aggregates existed; the migration that
        # adds them digests every rating, as it would on an existing install.
        upgrade_database(url, "0004")
        started = time.perf_counter()
        fill(url, args.ratings)
        print(f"filled {args.ratings:,} ratings in {time.perf_counter() - started:.0f} s")
        started = time.perf_counter()
        upgrade_database(url)
        print(f"  migration 0005 digested them in {time.perf_counter() - started:.1f} s")
        if args.database == "postgresql":
            # What autovacuum does on a live server after a bulk load: statistics, and the visibility map that
            # lets the covering indexes answer without visiting the table.
            engine = sa.create_engine(to_sync_url(url), isolation_level="AUTOCOMMIT")
            with engine.connect() as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
            engine.dispose()
        asyncio.run(time_leaderboard(url))

    fake_port, app_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp, blank_database(args.database, Path(tmp)) as url:
        _ENV.update(
            os.environ
            | {
                "TRIPTYCH_DATA_DIR": tmp,
                "TRIPTYCH_DATABASE_URL": url,
                "TRIPTYCH_SERVE_LOCAL_MODEL": "false",
                "TRIPTYCH_LOAD_DEMO": "false",
                "TRIPTYCH_API_TOKEN": TOKEN,
                "TRIPTYCH_PORT": str(app_port),
            }
        )
        models = ",".join(f"fixed-{i}" for i in range(VARIANTS))
        with app_beside_fake(_ENV, app_port, fake_port, 0.0, models):
            asyncio.run(
                post_ratings(
                    f"http://127.0.0.1:{app_port}",
                    f"http://127.0.0.1:{fake_port}/v1",
                    args.posts,
                    args.concurrency,
                    args.database,
                )
            )


if __name__ == "__main__":
    main()
