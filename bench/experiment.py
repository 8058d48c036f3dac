"""Experiment throughput against a fake OpenAI-compatible server with fixed latency, the cached re-run, and the
same dataset run by promptfoo against the same server with the same concurrency.

The app (`triptych serve`, SQLite) and the fake server (100 ms per answer) run in processes of their own;
three variants share one endpoint whose concurrency limit is 32, so at most 32 requests are in flight and the
ideal throughput is 32 / 0.1 s = 320 answers/s. Prints throughput as a fraction of that ideal (target >= 0.9),
the time scoring took (MiniLM similarity and the other metrics, after the answers), the cached re-run's speedup,
and promptfoo's wall time for the same 500 x 3 calls (`promptfoo eval -j 32`) as a ratio (target: Triptych no
slower). promptfoo is installed from npm into bench/.promptfoo on first use (`--no-promptfoo` skips it).

    .venv/bin/python bench/experiment.py [--items 500] [--latency 0.1] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import app_beside_fake  # noqa: E402
from tests.servers import free_port  # noqa: E402

TOKEN = "tt_bench-token"
VARIANTS = 3
PROMPTFOO = ROOT / "bench" / ".promptfoo"
PROMPTFOO_VERSION = "0.121"


def setup(http: httpx.Client, fake_url: str, items: int, concurrency: int) -> tuple[int, list[int]]:
    endpoint = http.post(
        "/api/v1/endpoints",
        json={"name": "fake", "base_url": fake_url, "model": "fixed", "max_concurrency": concurrency},
    )
    endpoint.raise_for_status()
    variant_ids = []
    for i in range(VARIANTS):
        variant = http.post(
            "/api/v1/variants",
            json={
                "name": f"variant-{i}",
                "strategy": "fine_tuned",
                "endpoint_id": endpoint.json()["id"],
                "system_prompt": f"You are assistant number {i}.",
            },
        )
        variant.raise_for_status()
        variant_ids.append(variant.json()["id"])
    rows = [{"query": f"question {i}: how many days?", "reference": f"{i % 30} days"} for i in range(items)]
    dataset = http.post("/api/v1/datasets", json={"name": "bench", "items": rows})
    dataset.raise_for_status()
    return int(dataset.json()["id"]), variant_ids


def run_experiment(http: httpx.Client, dataset_id: int, variant_ids: list[int]) -> tuple[float, float, float, dict]:
    """Seconds from the POST until the last answer, seconds from the runner's start (its `started_at`: the
    rows exist, the first calls go out) until the last answer, seconds until scored too, and the final
    experiment. The answers' end is the server's own `last_answer_at`, so polling (every 0.25 s, as gently as
    a page does) neither delays nor perturbs the figures."""
    posted, started = time.time(), time.perf_counter()
    created = http.post("/api/v1/experiments", json={"dataset_id": dataset_id, "variant_ids": variant_ids})
    created.raise_for_status()
    print(f"  (created in {time.perf_counter() - started:.2f} s)")
    experiment_id = created.json()["id"]
    while True:
        body = http.get(f"/api/v1/experiments/{experiment_id}").json()
        if body["status"] in ("succeeded", "failed", "cancelled"):
            assert body["status"] == "succeeded", body
            last_answer = datetime.fromisoformat(body["progress"]["last_answer_at"]).timestamp()
            runner_started = datetime.fromisoformat(body["started_at"]).timestamp()
            return last_answer - posted, last_answer - runner_started, time.perf_counter() - started, body
        time.sleep(0.25)


def promptfoo_wall(fake_url: str, items: int, concurrency: int) -> float | None:
    """Wall seconds of `promptfoo eval` over the same items and three providers on the same fake server."""
    binary = PROMPTFOO / "node_modules" / ".bin" / "promptfoo"
    if not binary.exists():
        print(f"installing promptfoo@{PROMPTFOO_VERSION} into {PROMPTFOO} ...", flush=True)
        PROMPTFOO.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PROMPTFOO), f"promptfoo@{PROMPTFOO_VERSION}"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    with tempfile.TemporaryDirectory() as tmp:
        config = {
            "prompts": ["{{query}}"],
            "providers": [
                {
                    "id": "openai:chat:fixed",
                    "label": f"variant-{i}",
                    "config": {"apiBaseUrl": fake_url, "apiKey": "unused", "temperature": 0.2, "max_tokens": 200},
                }
                for i in range(VARIANTS)
            ],
            "tests": [{"vars": {"query": f"question {i}: how many days?"}} for i in range(items)],
        }
        path = Path(tmp) / "promptfooconfig.json"
        path.write_text(json.dumps(config))
        env = os.environ | {
            "PROMPTFOO_DISABLE_TELEMETRY": "1",
            "PROMPTFOO_DISABLE_UPDATE": "1",
            "PROMPTFOO_CONFIG_DIR": str(Path(tmp) / "home"),
            "OPENAI_API_KEY": "unused",
        }
        started = time.perf_counter()
        subprocess.run(
            [str(binary), "eval", "-c", str(path), "-j", str(concurrency), "--no-cache", "--no-table",
             "--no-write", "-o", str(Path(tmp) / "out.json")],
            check=True,
            env=env,
            cwd=tmp,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-promptfoo", action="store_true")
    args = parser.parse_args()
    fake_port, app_port = free_port(), free_port()
    fake_url = f"http://127.0.0.1:{fake_port}/v1"
    calls = args.items * VARIANTS
    ideal = args.concurrency / args.latency
    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {
            "TRIPTYCH_DATA_DIR": tmp,
            "TRIPTYCH_SERVE_LOCAL_MODEL": "false",
            "TRIPTYCH_LOAD_DEMO": "false",
            "TRIPTYCH_API_TOKEN": TOKEN,
            "TRIPTYCH_PORT": str(app_port),
        }
        with app_beside_fake(env, app_port, fake_port, args.latency, "fixed"):
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(base_url=f"http://127.0.0.1:{app_port}", headers=headers, timeout=60) as http:
                dataset_id, variant_ids = setup(http, fake_url, args.items, args.concurrency)
                answered, running, scored, first = run_experiment(http, dataset_id, variant_ids)
                verdict = http.get(f"/api/v1/experiments/{first['id']}/verdict").json()
                cached_answered, _cached_running, _cached_scored, second = run_experiment(
                    http, dataset_id, variant_ids
                )
            throughput = calls / answered
            print(f"{args.items} items x {VARIANTS} variants = {calls} answers; fake latency {args.latency * 1000:.0f} ms;"
                  f" concurrency {args.concurrency} on one endpoint; SQLite")
            print(f"answers in {answered:.2f} s from the POST (creating the experiment's rows included):"
                  f" {throughput:.0f} answers/s = {throughput / ideal:.2f} of the ideal {ideal:.0f}/s")
            print(f"while running (the runner's start to the last answer) {running:.2f} s:"
                  f" {calls / running:.0f} answers/s = {calls / running / ideal:.2f} of the ideal")
            p50s = [v["latency_p50"] for v in verdict["variants"]]
            print(f"recorded latency p50 per variant: {', '.join(f'{p:.0f} ms' for p in p50s)}"
                  f" (the fake answers in {args.latency * 1000:.0f} ms)")
            print(f"scoring (similarity, token F1, key facts, format, citations, ...) took {scored - answered:.2f} s more")
            assert second["progress"]["cached"] == calls, second["progress"]
            print(f"cached re-run: answers in {cached_answered:.2f} s ({answered / cached_answered:.1f}x faster), "
                  f"{second['progress']['cached']} of {calls} from the cache")
            if not args.no_promptfoo:
                wall = promptfoo_wall(fake_url, args.items, args.concurrency)
                if wall is not None:
                    print(f"promptfoo {PROMPTFOO_VERSION} eval -j {args.concurrency}: {wall:.2f} s wall;"
                          f" Triptych/promptfoo wall-time ratio {answered / wall:.2f} (below 1: Triptych faster)")


if __name__ == "__main__":
    main()
