"""LoRA fine-tuning of the bundled SmolLM2 on the CPU, loss on the answer tokens only.

Trained on the de-quantised Q4_1 weights (exactly what llama.cpp serves), so the adapter fits the base it is
applied to at serving time. Every target ends with `<|im_end|>`, so the model learns to stop."""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# The linear layers of every decoder block (attention and MLP): what "all linear layers" means for llama.
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
END_OF_TURN = "<|im_end|>"
IGNORE = -100  # label value the loss skips (prompt tokens and padding)


@dataclass(frozen=True)
class Hyperparameters:
    """Defaults measured on the demo set: format and style are learned in 1-3 epochs."""

    epochs: int = 3
    rank: int = 16
    alpha: int = 32
    learning_rate: float = 3e-4
    batch_size: int = 2
    max_length: int = 768
    seed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]


Messages = Sequence[dict[str, str]]
# Hears one event (a JSON-ready dict); returns True when the job should stop now.
Reporter = Callable[[dict[str, Any]], bool]


def base_folder(gguf_path: Path, cache_root: Path) -> Path:
    """The bundled GGUF de-quantised to fp32 and saved as a transformers folder (model, config, tokenizer), made
    once per machine: reading the GGUF through transformers takes 20-30 s (its tokenizer and tensors are
    converted on every load), the saved folder under a second, with the same logits and tokens. Keyed by the
    file and the transformers version; written aside and renamed into place, so a crash never leaves half."""
    import transformers

    stat = gguf_path.stat()
    folder = cache_root / f"{gguf_path.stem}-{stat.st_size}-{stat.st_mtime_ns}-transformers-{transformers.__version__}"
    if (folder / "config.json").is_file():
        return folder
    cache_root.mkdir(parents=True, exist_ok=True)  # an unusable cache fails here, before 20 s of loading
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    parent, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(parent, gguf_file=name)
    model = AutoModelForCausalLM.from_pretrained(parent, gguf_file=name, dtype=torch.float32)
    # Saved as plain fp32 weights: the GGUF's quantizer record would make transformers expect a GGUF again.
    model.hf_quantizer = None  # type: ignore[assignment]
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    tmp = cache_root / f".{folder.name}.{os.getpid()}"
    try:
        model.save_pretrained(str(tmp))
        tokenizer.save_pretrained(str(tmp))
        tmp.rename(folder)
    except OSError:  # a full disk, or a folder another worker renamed into place first
        shutil.rmtree(tmp, ignore_errors=True)
        if not (folder / "config.json").is_file():
            raise
        # else another worker got there first, and theirs is the same
    return folder


def load_base(gguf_path: Path, threads: int, cache_root: Path) -> tuple[Any, Any]:
    """The bundled GGUF de-quantised to fp32 for training, and its tokenizer (the GGUF's chat template)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    torch.set_num_threads(threads)
    folder = str(base_folder(gguf_path, cache_root))
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    return model, tokenizer


def load_config(gguf_path: Path, cache_root: Path) -> dict[str, Any]:
    """The base model's configuration (layers, heads)."""
    config: dict[str, Any] = json.loads((base_folder(gguf_path, cache_root) / "config.json").read_text())
    return config


def encode(tokenizer: Any, messages: Messages, max_length: int) -> Encoded:
    """Prompt (every turn before the last, formatted as the server will) and the answer; only the answer's
    tokens, and the end-of-turn token after it, count in the loss."""
    prompt = tokenizer.apply_chat_template(list(messages[:-1]), add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(messages[-1]["content"] + END_OF_TURN, add_special_tokens=False)["input_ids"]
    ids = (prompt_ids + answer_ids)[:max_length]
    labels = ([IGNORE] * len(prompt_ids) + answer_ids)[:max_length]
    return Encoded(ids, labels)


def _batch(rows: Sequence[Encoded], pad_id: int) -> dict[str, Any]:
    import torch

    width = max(len(r.input_ids) for r in rows)
    ids = [r.input_ids + [pad_id] * (width - len(r.input_ids)) for r in rows]
    labels = [r.labels + [IGNORE] * (width - len(r.labels)) for r in rows]
    mask = [[1] * len(r.input_ids) + [0] * (width - len(r.input_ids)) for r in rows]
    return {
        "input_ids": torch.tensor(ids),
        "labels": torch.tensor(labels),
        "attention_mask": torch.tensor(mask),
    }


def _mean_loss(model: Any, rows: Sequence[Encoded], pad_id: int, batch_size: int) -> float | None:
    import torch

    if not rows:
        return None
    losses: list[float] = []
    model.eval()
    with torch.no_grad():
        for start in range(0, len(rows), batch_size):
            losses.append(float(model(**_batch(rows[start : start + batch_size], pad_id)).loss))
    model.train()
    return sum(losses) / len(losses)


def train(
    *,
    gguf_path: Path,
    train_set: Sequence[Messages],
    validation_set: Sequence[Messages],
    params: Hyperparameters,
    out_dir: Path,
    report: Reporter,
    cache_root: Path,
    threads: int = 2,
) -> Path | None:
    """Train; returns the final peft adapter's folder, or None if `report` asked to stop. A checkpoint is
    written after every epoch to out_dir/checkpoint, and a run finding one there carries on after it."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    if not train_set:
        raise ValueError("the training split is empty")
    started = time.perf_counter()
    torch.manual_seed(params.seed)
    base, tokenizer = load_base(gguf_path, threads, cache_root)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    rows = [encode(tokenizer, m, params.max_length) for m in train_set]
    held_out = [encode(tokenizer, m, params.max_length) for m in validation_set]
    checkpoint = out_dir / "checkpoint"
    state_file = checkpoint / "trainer_state.pt"
    if state_file.is_file():
        model = PeftModel.from_pretrained(base, str(checkpoint), is_trainable=True)
    else:
        config = LoraConfig(
            r=params.rank,
            lora_alpha=params.alpha,
            lora_dropout=0.05,
            target_modules=list(TARGET_MODULES),
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(base, config)
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=params.learning_rate)
    steps_per_epoch = math.ceil(len(rows) / params.batch_size)
    total_steps = steps_per_epoch * params.epochs
    # Linear decay to zero over the whole run: the last steps make small moves.
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total_steps))
    first_epoch, step = 0, 0
    if state_file.is_file():
        state = torch.load(state_file, weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        first_epoch, step = int(state["epoch"]), int(state["step"])
        report({"event": "resumed", "epoch": first_epoch, "step": step})
    report(
        {
            "event": "started",
            "total_steps": total_steps,
            "epochs": params.epochs,
            "train_examples": len(rows),
            "validation_examples": len(held_out),
            "load_s": round(time.perf_counter() - started, 1),
        }
    )
    for epoch in range(first_epoch, params.epochs):
        epoch_started = time.perf_counter()
        order = random.Random(params.seed * 1000 + epoch).sample(range(len(rows)), len(rows))
        for start in range(0, len(order), params.batch_size):
            batch = _batch([rows[i] for i in order[start : start + params.batch_size]], pad_id)
            loss = model(**batch).loss
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            step += 1
            stop = report(
                {
                    "event": "step",
                    "step": step,
                    "total_steps": total_steps,
                    "epoch": round(epoch + (start + params.batch_size) / max(1, len(order)), 3),
                    "loss": round(float(loss.detach()), 4),
                    "elapsed_s": round(time.perf_counter() - started, 1),
                }
            )
            if stop:
                return None
        model.save_pretrained(str(checkpoint))
        torch.save(
            {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "epoch": epoch + 1, "step": step},
            state_file,
        )
        report(
            {
                "event": "epoch",
                "epoch": epoch + 1,
                "step": step,
                "validation_loss": _round(_mean_loss(model, held_out, pad_id, params.batch_size)),
                "epoch_s": round(time.perf_counter() - epoch_started, 1),
            }
        )
    adapter = out_dir / "adapter"
    model.save_pretrained(str(adapter))
    return adapter


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
