"""llama.cpp's own server engine (xllamacpp) in this process: one loaded model with its LoRA adapters chosen per
request, up to `parallel` requests decoded together (continuous batching); the event loop never blocks.

Each request runs the engine's blocking call on a thread of its own (the call releases the GIL while it
decodes). A request waits for one of the `parallel` slots here, in Python, rather than in the engine's own
queue, so the wait is measured and reported apart from the model's time (`queue_ms`)."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Kind = Literal["chat", "completion"]
_DONE = object()


class EngineError(Exception):
    """A request the engine refused, in OpenAI's terms (status, type, code)."""

    def __init__(self, message: str, *, status: int = 400, kind: str = "invalid_request_error", code: str | None = None):
        super().__init__(message)
        self.status, self.kind, self.code = status, kind, code


class PromptTooLong(EngineError):
    """The prompt does not fit a slot's context window."""

    def __init__(self, message: str):
        super().__init__(message, code="context_length_exceeded")


def engine_error(error: Any) -> EngineError:
    """The engine's `{"error": {...}}` (or a raised ValueError/RuntimeError) as an EngineError."""
    if isinstance(error, dict):
        message = str(error.get("message") or "the model server refused the request")
        if error.get("type") == "exceed_context_size_error":
            return PromptTooLong(message)
        code = error.get("code")
        status = code if isinstance(code, int) and 400 <= code < 600 else 500
        return EngineError(message, status=status, kind=str(error.get("type") or "server_error"))
    return EngineError(str(error))


@dataclass
class Served:
    """A finished request: the engine's OpenAI-shaped response, and how long it waited for a slot."""

    response: dict[str, Any]
    queue_ms: float


class BatchingEngine:
    """One loaded GGUF model (and its LoRA adapters, listed at load) served by one xllamacpp server."""

    def __init__(
        self,
        gguf_path: Path,
        *,
        adapters: Sequence[Path] = (),
        n_threads: int = 2,
        n_ctx: int = 2048,
        parallel: int = 4,
        max_new_tokens: int = 1024,
    ):
        self.gguf_path = gguf_path
        self.adapters = tuple(adapters)
        self.n_threads, self.n_ctx, self.parallel, self.max_new_tokens = n_threads, n_ctx, parallel, max_new_tokens
        self._server: Any = None
        self._slots = asyncio.Semaphore(parallel)
        # One thread per slot: each holds a request's blocking call for as long as it decodes.
        self._threads = ThreadPoolExecutor(max_workers=parallel, thread_name_prefix=f"llama-{gguf_path.stem}")
        self._active = 0  # requests waiting for a slot or holding one
        self._idle = asyncio.Event()
        self._idle.set()
        self._closed = False

    async def load(self) -> None:
        """Load the weights (and every adapter) off the event loop; idempotent."""
        if self._closed:
            raise EngineError("the model was reloaded meanwhile: send the request again", status=503, kind="server_error")
        if self._server is None:
            self._server = await asyncio.get_running_loop().run_in_executor(self._threads, self._build)

    def _build(self) -> Any:
        import xllamacpp as xlc

        params = xlc.CommonParams()
        params.model.path = str(self.gguf_path)
        params.n_parallel = self.parallel
        params.n_ctx = self.n_ctx * self.parallel  # shared by the slots: each gets n_ctx
        params.cpuparams.n_threads = self.n_threads
        params.cpuparams_batch.n_threads = self.n_threads
        params.n_predict = self.max_new_tokens
        params.verbosity = 0
        # The engine also listens on a loopback port of its own (it cannot be turned off): a key nobody
        # knows closes it; the calls made here in process do not go through it.
        params.api_keys = [secrets.token_urlsafe(32)]
        # The prompt cache kept in RAM across slots can hand one adapter's cached state to another request
        # (llama.cpp issues 26207, 30129); each slot's own cache stays, and every request names every
        # adapter's scale (`_lora`), which the slot cache does compare.
        params.cache_ram_mib = 0
        # Loaded switched off: a request turns on the one it asks for.
        params.lora_adapters = [xlc.CommonAdapterLoraInfo(str(path), 0.0) for path in self.adapters]
        return xlc.Server(params)

    def serves(self, adapter: Path | None) -> bool:
        return adapter is None or adapter in self.adapters

    def _lora(self, adapter: Path | None) -> list[dict[str, float | int]]:
        return [{"id": i, "scale": 1.0 if path == adapter else 0.0} for i, path in enumerate(self.adapters)]

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[float]:
        """Wait for a free slot; yields how long that took (ms). The engine is not unloaded while a request
        waits or runs: the count goes up before the first await, so a caller handed this engine is counted
        before anyone can close it."""
        submitted = time.perf_counter()
        self._active += 1
        self._idle.clear()
        try:
            async with self._slots:
                await self.load()
                yield round((time.perf_counter() - submitted) * 1000, 1)
        finally:
            self._active -= 1
            if self._active == 0:
                self._idle.set()

    def _call(self, kind: Kind, body: dict[str, Any], on_chunk: Callable[[Any], bool] | None) -> Any:
        handler = self._server.handle_chat_completions if kind == "chat" else self._server.handle_completions
        try:
            return handler(body, on_chunk) if on_chunk is not None else handler(body)
        except (ValueError, RuntimeError) as exc:  # the engine's refusals of a malformed request
            raise engine_error(exc) from None

    async def complete(self, kind: Kind, body: dict[str, Any], adapter: Path | None = None) -> Served:
        """One request to the end."""
        request = body | {"stream": False, "lora": self._lora(adapter)}
        async with self._slot() as queue_ms:
            call = asyncio.get_running_loop().run_in_executor(self._threads, self._call, kind, request, None)
            try:
                response = await asyncio.shield(call)
            except asyncio.CancelledError:
                # A whole answer cannot be stopped half way: the slot stays taken until the engine is done
                # with it, so no more than `parallel` requests ever reach the engine.
                await asyncio.gather(call, return_exceptions=True)
                raise
        if "error" in response:
            raise engine_error(response["error"])
        return Served(response, queue_ms)

    async def stream(
        self, kind: Kind, body: dict[str, Any], adapter: Path | None = None, on_start: Callable[[float], None] | None = None
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The engine's chunks as they come; `on_start` hears the slot wait (ms) first. A consumer that leaves
        stops the decoding at the next token and frees the slot."""
        request = body | {"stream": True, "lora": self._lora(adapter)}
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[Any] = asyncio.Queue()
        stop = threading.Event()

        def on_chunk(chunk: Any) -> bool:
            # Runs on the request's thread; an exception here would be swallowed and end the stream silently.
            try:
                loop.call_soon_threadsafe(chunks.put_nowait, chunk)
            except RuntimeError:  # the loop is gone: stop decoding
                return True
            return stop.is_set()

        async with self._slot() as queue_ms:
            if on_start is not None:
                on_start(queue_ms)
            call = loop.run_in_executor(self._threads, self._call, kind, request, on_chunk)
            call.add_done_callback(lambda _f: loop.call_soon_threadsafe(chunks.put_nowait, _DONE))
            try:
                while (chunk := await chunks.get()) is not _DONE:
                    if isinstance(chunk, dict) and "error" in chunk:
                        raise engine_error(chunk["error"])
                    yield chunk
                await call  # raises the engine's refusal, if it raised one
            finally:
                stop.set()
                # The slot is free only once the engine's call has returned (it does at the next token).
                await asyncio.gather(asyncio.shield(call), return_exceptions=True)

    async def aclose(self) -> None:
        """Wait for requests under way, then unload (the engine's destructor stops its threads)."""
        self._closed = True
        await self._idle.wait()
        holder, self._server = [self._server], None
        loop = asyncio.get_running_loop()
        # The last reference goes on a worker thread: the C++ destructor joins the engine's threads there.
        await loop.run_in_executor(self._threads, holder.clear)
        await loop.run_in_executor(None, self._threads.shutdown, True)
