"""Answers as they are written: the text each running output has so far, for the pages and API clients that
follow a comparison live, in this process.

The runner appends each delta the gateway hands it and, once the output is stored, its stored values. Readers
never receive pushed chunks: they read the text from the offset they have reached, so a slow reader
coalesces many deltas into one read and can neither lose nor reorder any. A reader waits on the
comparison's pulse, taken before it reads (a change between its read and its wait sets the pulse it holds).

Outputs another process is answering are not here: readers follow those through the rows the runner
checkpoints (app/comparisons/feed.py).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from app.comparisons.schemas import FinishedOutput


class LiveOutput:
    """One output's text so far (at most `cap` characters, as it will be stored) and, once stored, its values."""

    def __init__(self, output_id: int, cap: int, changed: Callable[[bool], None]):
        self.output_id = output_id
        self.cap = cap
        self._parts: list[str] = []
        self._length = 0
        self._joined = ""
        self._changed = changed
        self.final: FinishedOutput | None = None
        # Set by a Stop: the runner ends the model call and stores what was written as stopped.
        self.stop_requested = False
        self._on_stop: Callable[[], object] | None = None
        # Written to the row up to this length (a checkpoint), so other processes can follow.
        self.checkpointed = 0

    @property
    def length(self) -> int:
        return self._length

    @property
    def text(self) -> str:
        if len(self._joined) != self._length:
            self._joined = "".join(self._parts)
            self._parts = [self._joined]
        return self._joined

    def append(self, piece: str) -> None:
        room = self.cap - self._length
        if room <= 0 or not piece:
            return
        piece = piece[:room]
        self._parts.append(piece)
        self._length += len(piece)
        self._changed(False)

    def finish(self, values: FinishedOutput) -> None:
        """The output is stored with these values (readers are told at once)."""
        self.final = values
        self._changed(True)

    def on_stop(self, stop: Callable[[], object] | None) -> None:
        """What a Stop calls to end this output's model call (None once it has ended)."""
        self._on_stop = stop
        if stop is not None and self.stop_requested:
            stop()

    def stop(self) -> None:
        if self.final is not None:
            return
        self.stop_requested = True
        if self._on_stop is not None:
            self._on_stop()


# Readers are woken at most this often: deltas that arrive closer together are read together (all readers
# then read the same lengths, so a page render of one length serves every viewer). The first change after a
# quiet spell wakes them at once: it adds nothing to the time to first token.
FRAME_S = 0.04


class LiveComparison:
    """The running outputs of one comparison and the pulse its readers wait on."""

    def __init__(self, comparison_id: int, output_ids: list[int], cap: int):
        self.comparison_id = comparison_id
        self._pulse = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._last_fired = -FRAME_S
        self._scheduled: asyncio.TimerHandle | None = None
        self.outputs = {output_id: LiveOutput(output_id, cap, self._notify) for output_id in output_ids}

    def _notify(self, now: bool) -> None:
        if now:
            self._fire()
            return
        if self._scheduled is not None:
            return
        wait = self._last_fired + FRAME_S - self._loop.time()
        if wait <= 0:
            self._fire()
        else:
            self._scheduled = self._loop.call_later(wait, self._fire)

    def _fire(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        self._last_fired = self._loop.time()
        self._pulse.set()
        self._pulse = asyncio.Event()

    @property
    def pulse(self) -> asyncio.Event:
        """Set at the next change: take it before reading, then wait on it."""
        return self._pulse

    @property
    def finished(self) -> bool:
        return all(output.final is not None for output in self.outputs.values())


class LiveOutputs:
    """The comparisons this process is answering, by id; dropped once every output is stored (a reader that
    holds one keeps reading its final state)."""

    def __init__(self, cap: int):
        self.cap = cap
        self._comparisons: dict[int, LiveComparison] = {}

    def open(self, comparison_id: int, output_ids: list[int]) -> LiveComparison:
        live = self._comparisons.get(comparison_id)
        if live is None:
            live = self._comparisons[comparison_id] = LiveComparison(comparison_id, output_ids, self.cap)
        return live

    def get(self, comparison_id: int) -> LiveComparison | None:
        return self._comparisons.get(comparison_id)

    def output(self, comparison_id: int, output_id: int) -> LiveOutput | None:
        live = self._comparisons.get(comparison_id)
        return None if live is None else live.outputs.get(output_id)

    def close(self, comparison_id: int) -> None:
        with contextlib.suppress(KeyError):
            del self._comparisons[comparison_id]

    def running(self) -> list[LiveOutput]:
        """Every output still being answered here."""
        return [o for live in self._comparisons.values() for o in live.outputs.values() if o.final is None]
