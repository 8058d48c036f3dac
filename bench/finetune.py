"""Fine-tuning the bundled model on the demo's house-format examples, as the demo's first start does.

Prints seconds per epoch (default hyperparameters, the demo set's training split), the training worker's peak
memory, the adapter's conversion and merge times and sizes, then the decoding tokens/s of the fine-tuned model
served next to the base model on the same bundled model server (llama.cpp), in both forms the server takes: merged
into a Q8_0 model of its own (what Triptych serves by default) and as the GGUF LoRA adapter applied at run time on
the Q4_1 base (target: at least 0.75x the base). Greedy, streamed, the same prompts; each round asks every model
each prompt in turn (so a noisy neighbour hits all three alike), after a warm-up call each; the median of the
rounds' ratios is the figure.

    .venv/bin/python bench/finetune.py [--epochs 3] [--threads 2] [--prompts 16] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.settings import BUNDLED_MODEL_ID, Settings  # noqa: E402
from app.demo import read_jsonl  # noqa: E402
from app.finetune.building import Candidate, build  # noqa: E402
from app.finetune.service import chat_messages  # noqa: E402
from app.localmodels.registry import ModelRegistry  # noqa: E402
from app.localmodels.server import create_app  # noqa: E402
from app.localmodels.weights import bundled_gguf_path  # noqa: E402
from app.training.lora import Hyperparameters  # noqa: E402
from tests.servers import ServerThread  # noqa: E402

MODEL_ID = "bench-ft"


def train(workdir: Path, epochs: int, threads: int) -> dict[str, object]:
    rows = build([Candidate(r["input"], r["output"], "example", i) for i, r in enumerate(read_jsonl("examples.jsonl"))], 0.2, 0).rows
    spec = {
        "out_dir": str(workdir),
        "gguf_path": str(bundled_gguf_path()),
        "hyperparameters": Hyperparameters(epochs=epochs).as_dict(),
        "train": [chat_messages("", r.prompt, r.completion) for r in rows if r.split == "train"],
        "validation": [chat_messages("", r.prompt, r.completion) for r in rows if r.split == "validation"],
        "threads": threads,
        "model_id": MODEL_ID,
        "cache_dir": str(Settings().training_cache_dir),
    }
    (workdir / "spec.json").write_text(json.dumps(spec))
    print(f"training on {len(spec['train'])} examples ({len(spec['validation'])} held out), {epochs} epochs, {threads} threads")
    started = time.perf_counter()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.training.worker", str(workdir / "spec.json")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )
    assert process.stdout is not None
    report: dict[str, object] = {"epochs": []}
    for line in process.stdout:
        event = json.loads(line)
        if event["event"] == "started":
            report["load_s"] = event["load_s"]
        elif event["event"] == "epoch":
            report["epochs"].append(event)  # type: ignore[attr-defined]
            print(f"  epoch {event['epoch']}: {event['epoch_s']} s, validation loss {event['validation_loss']}", flush=True)
        elif event["event"] == "done":
            report |= event
        elif event["event"] == "error":
            raise SystemExit(f"training failed: {event['message']}")
    process.wait()
    report["wall_s"] = round(time.perf_counter() - started, 1)
    report["peak_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)
    return report


def decoding(client: object, model: str, prompt: str) -> tuple[int, float, int, float]:
    """(tokens after the first, seconds from the first to the last, all tokens, seconds of the whole request) of
    one streamed answer. The decode rate does not depend on how long an answer is, which differs between the
    base and the fine-tune (house-format answers are short)."""
    import openai

    assert isinstance(client, openai.OpenAI)
    started = time.perf_counter()
    first = last = None
    usage = 0
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=96, temperature=0,
        stream=True, stream_options={"include_usage": True},
    )
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            last = time.perf_counter()
            first = first or last
        if chunk.usage:
            usage = chunk.usage.completion_tokens
    total_s = time.perf_counter() - started
    if first is None or last is None or usage < 2:
        return 0, 0.0, usage, total_s
    return usage - 1, last - first, usage, total_s


def served_speeds(client: object, models: list[str], prompts: list[str], rounds: int) -> dict[str, list[float]]:
    """Each model's decoding tokens/s per round, the models asked in turn for every prompt."""
    import openai

    assert isinstance(client, openai.OpenAI)
    for model in models:
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompts[0]}], max_tokens=8)
    speeds: dict[str, list[float]] = {model: [] for model in models}
    for _ in range(rounds):
        totals = {model: [0, 0.0] for model in models}
        for prompt in prompts:
            for model in models:
                tokens, seconds, _, _ = decoding(client, model, prompt)
                totals[model][0] += tokens
                totals[model][1] += seconds
        for model in models:
            speeds[model].append(totals[model][0] / totals[model][1])
    return speeds


def main() -> None:
    import openai

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=Hyperparameters().epochs)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp) / "job"
        workdir.mkdir()
        report = train(workdir, args.epochs, args.threads)
        epochs = report["epochs"]
        per_epoch = [e["epoch_s"] for e in epochs]  # type: ignore[attr-defined]
        print(f"seconds per epoch: {', '.join(f'{s:.1f}' for s in per_epoch)} (model load {report['load_s']} s;"
              f" whole run {report['wall_s']} s); peak memory of the worker {report['peak_mib']} MiB")
        print(f"adapter conversion to GGUF: {report['convert_s']} s, {int(report['adapter_bytes']) / 2**20:.1f} MiB")  # type: ignore[call-overload]
        print(f"merged into a Q8_0 model: {report['merge_s']} s, {int(report['model_bytes']) / 2**20:.1f} MiB")  # type: ignore[call-overload]
        served = Path(tmp) / "served"
        served.mkdir()
        # The folder the server reads: it tells the merged model from the adapter by each file's header.
        Path(str(report["model"])).replace(served / f"{MODEL_ID}-merged.gguf")
        Path(str(report["adapter"])).replace(served / f"{MODEL_ID}-adapter.gguf")
        models = [BUNDLED_MODEL_ID, f"{MODEL_ID}-merged", f"{MODEL_ID}-adapter"]
        prompts = [r["query"] for r in read_jsonl("questions.jsonl")[: args.prompts]]
        registry = ModelRegistry.with_bundled(n_threads=args.threads, adapters_dir=served)
        with ServerThread(create_app(registry)) as server, openai.OpenAI(
            base_url=f"{server.url}/v1", api_key="unused", max_retries=0
        ) as client:
            speeds = served_speeds(client, models, prompts, args.rounds)
        base = speeds[BUNDLED_MODEL_ID]
        print(f"served on one bundled server, {len(prompts)} prompts x {args.rounds} rounds, greedy, streamed,"
              f" decoding tokens/s (median of rounds; ratio = median of the rounds' ratios; target >= 0.75x):")
        labels = ("base (Q4_1)", "fine-tuned, merged (Q8_0, served)", "fine-tuned, LoRA adapter at run time")
        for model, label in zip(models, labels, strict=True):
            ratios = [tuned / b for tuned, b in zip(speeds[model], base, strict=True)]
            print(f"  {label}: {statistics.median(speeds[model]):.1f} tokens/s"
                  f" = {statistics.median(ratios):.2f}x the base (rounds {', '.join(f'{r:.2f}' for r in ratios)})")


if __name__ == "__main__":
    main()
