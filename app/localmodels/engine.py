"""llama.cpp behind one worker thread per model: requests queue in order, the event loop never blocks."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class PromptTooLong(ValueError):
    """The prompt does not fit the context window."""


@dataclass(frozen=True)
class GenerationParams:
    max_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None


@dataclass
class Generation:
    """A finished or streaming generation's accounting."""

    text: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    deltas: list[str] = field(default_factory=list)
    # How long the request waited for the worker thread (behind other requests) before generation began.
    queue_ms: float = 0.0


_DONE = object()


class LlamaCppEngine:
    """One loaded model. All llama.cpp calls run on this engine's single worker thread."""

    def __init__(
        self,
        gguf_path: Path,
        *,
        lora_path: Path | None = None,
        n_threads: int = 2,
        n_ctx: int = 2048,
        executor: ThreadPoolExecutor | None = None,
    ):
        self.gguf_path = gguf_path
        self.lora_path = lora_path
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        # A shared single-thread executor makes several models (a base and its adapters) take turns: each
        # generation gets the cores to itself, so its latency is its own and the wait is measured as queue.
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llama-{gguf_path.stem}")
        self._llm: Any = None
        self._formatter: Any = None

    async def load(self) -> None:
        """Load the weights on the worker thread (idempotent)."""
        await asyncio.get_running_loop().run_in_executor(self._executor, self._load)

    def _load(self) -> None:
        if self._llm is not None:
            return
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        kwargs: dict[str, Any] = {"n_ctx": self.n_ctx, "n_threads": self.n_threads, "verbose": False}
        if self.lora_path is not None:
            kwargs["lora_path"] = str(self.lora_path)
        llm = Llama(model_path=str(self.gguf_path), **kwargs)
        template = llm.metadata.get("tokenizer.chat_template")
        if not template:
            raise RuntimeError(f"{self.gguf_path.name} has no chat template")
        self._formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=llm._model.token_get_text(llm.token_eos()),
            bos_token=llm._model.token_get_text(llm.token_bos()),
            add_generation_prompt=True,
        )
        self._llm = llm

    def _prepare(
        self, messages: list[dict[str, str]], params: GenerationParams
    ) -> tuple[str, list[str], int, int]:
        """Format with the model's own chat template; returns prompt, stops, prompt tokens, max new tokens."""
        self._load()
        formatted = self._formatter(messages=messages)
        prompt = formatted.prompt
        stops = (
            [*(formatted.stop or []), *params.stop]
            if isinstance(formatted.stop, list)
            else [*([formatted.stop] if formatted.stop else []), *params.stop]
        )
        prompt_tokens = len(self._llm.tokenize(prompt.encode(), add_bos=False, special=True))
        room = self.n_ctx - prompt_tokens
        if room < 1:
            raise PromptTooLong(f"the prompt is {prompt_tokens} tokens; the context window is {self.n_ctx}")
        return prompt, stops, prompt_tokens, min(params.max_tokens, room)

    def _generate(
        self,
        messages: list[dict[str, str]],
        params: GenerationParams,
        on_delta: Any,
        cancelled: threading.Event,
        submitted: float,
        on_start: Callable[[float], None] | None = None,
    ) -> Generation:
        queue_ms = round((time.perf_counter() - submitted) * 1000, 1)
        if on_start is not None:
            on_start(queue_ms)
        prompt, stops, prompt_tokens, max_tokens = self._prepare(messages, params)
        result = Generation(prompt_tokens=prompt_tokens, finish_reason="length", queue_ms=queue_ms)
        stream = self._llm.create_completion(
            prompt=prompt,
            max_tokens=max_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            stop=stops,
            seed=params.seed,
            stream=True,
        )
        try:
            for chunk in stream:
                if cancelled.is_set():
                    result.finish_reason = "cancelled"
                    break
                choice = chunk["choices"][0]
                if text := choice.get("text"):
                    result.deltas.append(text)
                    on_delta(text)
                if choice.get("finish_reason"):
                    result.finish_reason = choice["finish_reason"]
        finally:
            stream.close()  # stops llama.cpp from generating further tokens
        # n_tokens counts the prompt plus every evaluated generated token: exact usage, even when streaming.
        result.completion_tokens = max(self._llm.n_tokens - prompt_tokens, len(result.deltas))
        result.text = "".join(result.deltas)
        return result

    async def complete(self, messages: list[dict[str, str]], params: GenerationParams) -> Generation:
        """Generate to the end on the worker thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor,
            self._generate,
            messages,
            params,
            lambda _t: None,
            threading.Event(),
            time.perf_counter(),
        )

    async def stream(
        self,
        messages: list[dict[str, str]],
        params: GenerationParams,
        on_start: Callable[[float], None] | None = None,
    ) -> AsyncGenerator[str | Generation, None]:
        """Yield text deltas as they are produced, then the final Generation; stops if the consumer leaves.
        `on_start` hears the queue time (ms) on the worker thread once generation begins."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        cancelled = threading.Event()

        def on_delta(text: str) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, text)

        future = loop.run_in_executor(
            self._executor,
            self._generate,
            messages,
            params,
            on_delta,
            cancelled,
            time.perf_counter(),
            on_start,
        )
        future.add_done_callback(lambda _f: loop.call_soon_threadsafe(queue.put_nowait, _DONE))
        try:
            while True:
                item = await queue.get()
                if item is _DONE:
                    break
                yield str(item)
            yield await future
        finally:
            cancelled.set()  # a client that disconnects stops the generation at the next token

    async def aclose(self) -> None:
        if self._owns_executor:
            await asyncio.get_running_loop().run_in_executor(None, self._executor.shutdown, True)
