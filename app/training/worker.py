"""`python -m app.training.worker SPEC.json`: one LoRA job in a process of its own, so the server stays
responsive (and a crash here never takes it down). Reports on stdout, one JSON object a line; the last is
{"event": "done", "adapter": path, "model": path} (the GGUF LoRA adapter and the merged model) or
{"event": "error", "message": ...}. A checkpoint after every epoch lets
a new worker on the same folder carry on. Once the reader is gone (the server stopped), the next report
fails with a broken pipe and the worker ends itself."""

from __future__ import annotations

import contextlib
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from app.training.gguf_adapter import convert
from app.training.gguf_merged import merge
from app.training.lora import Hyperparameters, base_folder, load_config, train


def _say(event: dict[str, Any]) -> bool:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()
    return False  # stopping is the parent's call: it ends this process


def _writable_cache(gguf_path: Path, cache_root: Path, out_dir: Path) -> Path:
    """The shared cache of the de-quantised base, or the job's own folder when the cache cannot be written
    (read-only, full): a slower start, never a failed job."""
    try:
        base_folder(gguf_path, cache_root)
    except OSError as exc:
        print(f"the training cache {cache_root} is not writable ({exc}); using the job folder", file=sys.stderr)
        return out_dir / "training-base"
    return cache_root


def run(spec: dict[str, Any]) -> int:
    out_dir = Path(spec["out_dir"])
    gguf_path = Path(spec["gguf_path"])
    params = Hyperparameters(**spec["hyperparameters"])
    cache_root = _writable_cache(gguf_path, Path(spec["cache_dir"]), out_dir)
    adapter = train(
        gguf_path=gguf_path,
        train_set=spec["train"],
        validation_set=spec["validation"],
        params=params,
        out_dir=out_dir,
        report=_say,
        cache_root=cache_root,
        threads=int(spec.get("threads", 2)),
    )
    if adapter is None:
        return 1
    started = time.perf_counter()
    converted = convert(adapter, load_config(gguf_path, cache_root), out_dir / "adapter.gguf", model_id=spec["model_id"])
    convert_s = round(time.perf_counter() - started, 2)
    merged = merge(adapter, gguf_path, out_dir / "model.gguf", model_id=spec["model_id"])
    _say(
        {
            "event": "done",
            "adapter": str(converted.path),
            "adapter_bytes": converted.bytes,
            "convert_s": convert_s,
            "model": str(merged.path),
            "model_bytes": merged.bytes,
            "merge_s": merged.seconds,
        }
    )
    return 0


def _die_with_parent() -> None:
    """Linux: SIGTERM when the job worker that started us dies (even by SIGKILL), so a training run never
    outlives its job's lease: the worker that takes the job over starts the only trainer on the folder."""
    if sys.platform != "linux":
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def main() -> None:
    _die_with_parent()
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    try:
        code = run(spec)
    except BrokenPipeError:
        code = 2  # nobody is listening any more
    except Exception as exc:  # reported to the parent, which records it on the job
        traceback.print_exc()
        with contextlib.suppress(BrokenPipeError):
            _say({"event": "error", "message": f"{type(exc).__name__}: {exc}"[:2000]})
        code = 1
    sys.exit(code)


if __name__ == "__main__":
    main()
