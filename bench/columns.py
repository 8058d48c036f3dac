"""When each column of a comparison on the bundled model shows its first token: the demo's four variants
(few-shot, RAG, fine-tuned, fine-tuned + RAG; the fine-tuned two on the base until a fine-tune has run) asked
the demo's questions through the real app (`triptych serve` in a process of its own, SQLite, embedded Chroma).

For each output the time from the start of its variant to its first token is the slot wait plus the time to
first token (`wait_ms + ttft_ms`, as stored). Prints, per column, the p50 and max over the questions, and the
p50 and max of the slowest column of each comparison (target: all four under 1.5 s).

    .venv/bin/python bench/columns.py [--questions 8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fanout import served_app  # noqa: E402
from tests.servers import free_port  # noqa: E402

TOKEN = "tt_bench-columns"


def demo_questions(n: int) -> list[str]:
    rows = (ROOT / "app" / "demo" / "questions.jsonl").read_text().splitlines()
    return [json.loads(row)["query"] for row in rows[:n]]


def wait_for_knowledge(http: httpx.Client, timeout: float = 300) -> None:
    """Until every demo document is ingested (the RAG columns would otherwise retrieve nothing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        bases = http.get("/api/v1/knowledge-bases").json()
        documents = [d for kb in bases for d in http.get(f"/api/v1/knowledge-bases/{kb['id']}/documents").json()]
        if documents and all(d["status"] in ("ready", "failed") for d in documents):
            return
        time.sleep(1)
    raise TimeoutError("the demo knowledge base was not ingested in time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=8)
    args = parser.parse_args()
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = os.environ | {
            "TRIPTYCH_DATA_DIR": tmp,
            "TRIPTYCH_API_TOKEN": TOKEN,
            "TRIPTYCH_PORT": str(port),
            "TRIPTYCH_DEMO_FINETUNE": "false",
        }
        with served_app(env, port, ready="/readyz", timeout=180) as url:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            with httpx.Client(base_url=url, headers=headers, timeout=300) as http:
                wait_for_knowledge(http)
                http.post("/api/v1/comparisons", json={"query": "Hello"}).raise_for_status()  # warm-up
                columns: dict[str, list[float]] = {}
                slowest: list[float] = []
                for question in demo_questions(args.questions):
                    response = http.post("/api/v1/comparisons", json={"query": question})
                    response.raise_for_status()
                    first_tokens: dict[str, float] = {}
                    for output in response.json()["outputs"]:
                        assert output["error"] is None, output["error"]
                        first = (output["wait_ms"] or 0) + (output["ttft_ms"] or output["latency_ms"])
                        first_tokens[output["variant"]["name"]] = first
                        columns.setdefault(output["variant"]["name"], []).append(first)
                    slowest.append(max(first_tokens.values()))
    print(f"{args.questions} demo questions, 4 variants on the bundled model; first token after the variant starts:")
    for name, firsts in columns.items():
        print(f"  {name:32s} p50 {statistics.median(firsts):6.0f} ms   max {max(firsts):6.0f} ms")
    print(f"  {'slowest column of each':32s} p50 {statistics.median(slowest):6.0f} ms   max {max(slowest):6.0f} ms")


if __name__ == "__main__":
    main()
