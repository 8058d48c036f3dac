"""Fine-tuning the bundled model on the demo's house-format examples, as the demo's first start does.

Prints seconds per epoch (default hyperparameters, the demo set's training split), the training worker's peak
memory, the adapter conversion time and size, then the tokens/s of the fine-tuned model served next to the base
model on the same bundled model server (llama.cpp, the GGUF LoRA adapter applied at run time on the Q4_1 base;
target: at least 0.75x the base), over the same prompts, greedy, after a warm-up call each.

    .venv/bin/python bench/finetune.py [--epochs 3] [--threads 2] [--prompts 8]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from app.core.settings import BUNDLED_MODEL_ID  # noqa: E402
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


def tokens_per_second(client: object, model: str, prompts: list[str]) -> tuple[float, float]:
    """(decode tokens/s: tokens after the first over the time from the first to the last, end-to-end tokens/s:
    all tokens over the whole request). Streamed; the decode rate does not depend on how long each answer is,
    which differs between the base and the fine-tune (house-format answers are short)."""
    import openai

    assert isinstance(client, openai.OpenAI)
    client.chat.completions.create(model=model, messages=[{"role": "user", "content": prompts[0]}], max_tokens=8)
    decoded, decode_s, tokens, total_s = 0, 0.0, 0, 0.0
    for prompt in prompts:
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
        total_s += time.perf_counter() - started
        tokens += usage
        if first is not None and last is not None and usage > 1:
            decoded += usage - 1
            decode_s += last - first
    return decoded / decode_s, tokens / total_s


def main() -> None:
    import openai

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=Hyperparameters().epochs)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=8)
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
        adapters = Path(tmp) / "adapters"
        adapters.mkdir()
        Path(str(report["adapter"])).replace(adapters / f"{MODEL_ID}.gguf")
        prompts = [r["query"] for r in read_jsonl("questions.jsonl")[: args.prompts]]
        registry = ModelRegistry.with_bundled(n_threads=args.threads, adapters_dir=adapters)
        with ServerThread(create_app(registry)) as server, openai.OpenAI(
            base_url=f"{server.url}/v1", api_key="unused", max_retries=0
        ) as client:
            base, base_e2e = tokens_per_second(client, BUNDLED_MODEL_ID, prompts)
            tuned, tuned_e2e = tokens_per_second(client, MODEL_ID, prompts)
        print(f"served on one bundled server, {len(prompts)} prompts, greedy, streamed: decoding base {base:.1f}"
              f" tokens/s, fine-tuned {tuned:.1f} tokens/s = {tuned / base:.2f}x the base (target >= 0.75);"
              f" end to end (prompt included, answers of different lengths) {base_e2e:.1f} vs {tuned_e2e:.1f}"
              f" = {tuned_e2e / base_e2e:.2f}x")


if __name__ == "__main__":
    main()
