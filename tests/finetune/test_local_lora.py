"""A real LoRA run of the bundled model in a worker process: the loss falls, the bundled model server keeps
answering while it trains, and the fine-tune is served under its own id (the official openai client, temperature
0) with output that differs from the base — merged into a model of its own (the default) and as the LoRA adapter
applied on the base, both from the worker's files."""

from __future__ import annotations

import asyncio
import shutil
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from app.core.settings import BUNDLED_MODEL_ID, Settings
from app.finetune.backends import JobSpec
from app.finetune.local import LocalLoraBackend
from app.localmodels.gguf_header import gguf_type
from app.localmodels.registry import ModelRegistry
from app.localmodels.server import create_app
from app.localmodels.weights import bundled_gguf_path
from tests.servers import ServerThread

pytestmark = pytest.mark.model

HOUSE = "Answer: {fact}\nPolicy: Larkspur Handbook\nAsk: hr@larkspur.example"
EXAMPLES = [
    ("How many vacation days do I get?", "25 days a year."),
    ("When is payday?", "The last working day of the month."),
    ("Can I work from home?", "Yes, up to two days a week."),
    ("Who approves my leave?", "Your manager, in Leavebook."),
    ("How long is the notice period?", "One month."),
    ("Is there a dress code?", "Smart casual, except on site."),
]
PROBE = [{"role": "user", "content": "Do we get a bonus?"}]


class Recorder:
    def __init__(self) -> None:
        self.steps: list[tuple[float, int, float]] = []
        self.validation_losses: list[float] = []

    async def started(self, *, total_steps: int | None, external_id: str | None = None) -> None:
        self.total_steps = total_steps

    async def step(self, step: int, loss: float | None, **_: Any) -> None:
        self.steps.append((time.monotonic(), step, float(loss or 0)))

    async def validation(self, epoch: float, loss: float) -> None:
        self.validation_losses.append(loss)

    async def resumed_at(self, step: int) -> None:
        raise AssertionError("a fresh folder has no checkpoint to resume from")

    async def cancelled(self) -> bool:
        return False


async def test_train_serve_and_the_server_stays_responsive(tmp_path: Path) -> None:
    adapters = tmp_path / "adapters"
    registry = ModelRegistry.with_bundled(n_threads=2, n_ctx=2048, adapters_dir=adapters)
    rows = [[{"role": "user", "content": q}, {"role": "assistant", "content": HOUSE.format(fact=a)}] for q, a in EXAMPLES]
    spec = JobSpec(
        job_id=1,
        backend="local",
        base_model=BUNDLED_MODEL_ID,
        hyperparameters={"epochs": 4, "rank": 8, "alpha": 16, "learning_rate": 1e-3, "batch_size": 2},
        train=rows[:5],
        validation=rows[5:],
        workdir=tmp_path / "job-1",
        model_id="tiny-ft",
    )
    backend = LocalLoraBackend(bundled_gguf_path, adapters, cache_dir=Settings().training_cache_dir, threads=1)
    events = Recorder()
    with ServerThread(create_app(registry)) as server, openai.OpenAI(
        base_url=f"{server.url}/v1", api_key="unused", max_retries=0
    ) as client:
        base_answer = client.chat.completions.create(model=BUNDLED_MODEL_ID, messages=PROBE, temperature=0, max_tokens=40)
        answered: list[tuple[float, float]] = []  # (asked, answered)
        training = asyncio.Event()

        async def keep_asking() -> None:
            while not training.is_set():
                asked = time.monotonic()
                await asyncio.to_thread(
                    client.chat.completions.create, model=BUNDLED_MODEL_ID, messages=PROBE, max_tokens=8
                )
                answered.append((asked, time.monotonic()))

        asker = asyncio.create_task(keep_asking())
        worker_started = time.monotonic()
        try:
            trained = await backend.train(spec, events)
        finally:
            worker_ended = time.monotonic()
            training.set()
        await asker
        assert trained is not None and trained.served_path == adapters / "tiny-ft.gguf"
        # Requests were asked and answered while the worker ran (loading, training, converting, merging).
        assert [pair for pair in answered if worker_started < pair[0] and pair[1] < worker_ended]
        losses = [loss for _t, _s, loss in events.steps]
        assert events.total_steps == 12 and [s for _t, s, _l in events.steps] == list(range(1, 13))
        assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
        # The served file is the merged model; the job folder keeps the adapter too, served here beside it.
        assert gguf_type(adapters / "tiny-ft.gguf") == "model"
        assert gguf_type(spec.workdir / "adapter.gguf") == "adapter" and not (spec.workdir / "model.gguf").exists()
        shutil.copyfile(spec.workdir / "adapter.gguf", adapters / "tiny-ft-lora.gguf")
        # Served under their own ids, found in the folder without a restart.
        served = [m.id for m in client.models.list()]
        assert "tiny-ft" in served and "tiny-ft-lora" in served
        base_text = base_answer.choices[0].message.content
        for model in ("tiny-ft", "tiny-ft-lora"):
            tuned = client.chat.completions.create(model=model, messages=PROBE, temperature=0, max_tokens=40)
            assert tuned.choices[0].message.content != base_text
            assert "Answer:" in (tuned.choices[0].message.content or ""), (model, tuned.choices[0].message.content)
        # The base and the adapter share one loaded model and its slots. One after the other, the adapter's
        # cached prompt must not leak into the base's answer, nor the reverse: each gives its answer again.
        # Decoded together (a batch may round differently from a lone request), each still answers its way.
        def ask(model: str) -> str:
            answer = client.chat.completions.create(model=model, messages=PROBE, temperature=0, max_tokens=40)
            return answer.choices[0].message.content or ""

        lora_text = ask("tiny-ft-lora")
        assert ask(BUNDLED_MODEL_ID) == base_text and ask("tiny-ft-lora") == lora_text
        together = await asyncio.gather(*(asyncio.to_thread(ask, m) for m in ("tiny-ft-lora", BUNDLED_MODEL_ID) * 2))
        assert ["Answer:" in text for text in together] == [True, False, True, False]
