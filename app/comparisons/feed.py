"""Following a comparison as it is answered: what each output has written since a reader's cursor, then the
output as stored, wherever the answer is being written.

An answer this process is writing is read from its live view (app/comparisons/live.py) the moment it
changes. One written by another process (a reader reconnected to another web process, or a second process
started the comparison) is read from its row, which that process checkpoints every quarter second and
finishes like any other; the model is never called again for a reader.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm.attributes import set_committed_value

from app.comparisons.finishing import stored_output
from app.comparisons.live import LiveComparison, LiveOutputs
from app.comparisons.repository import ComparisonRepository
from app.models import Comparison, Output


@dataclass(frozen=True)
class TextAdded:
    """Answer text from `offset` on (offsets count characters of the answer)."""

    output_id: int
    offset: int
    text: str


@dataclass(frozen=True)
class OutputStored:
    """The output is stored: done, error or stopped, with everything it carries."""

    output: Output


FeedEvent = TextAdded | OutputStored

_CURSOR_PART = re.compile(r"^(\d{1,12}):(\d{1,9}|f)$")


@dataclass
class Cursor:
    """How far a reader has read: characters of each output's answer, and which outputs it saw stored. As
    text ("12:340,13:f") it is the id of every event sent, so a reconnecting EventSource sends it back as
    Last-Event-ID."""

    offsets: dict[int, int] = field(default_factory=dict)
    stored: set[int] = field(default_factory=set)

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        """A cursor from a Last-Event-ID; anything malformed counts as none (replay from the start)."""
        cursor = cls()
        if not text or len(text) > 2000:
            return cursor
        for part in text.split(","):
            match = _CURSOR_PART.match(part.strip())
            if match is None:
                return cls()
            output_id = int(match[1])
            if match[2] == "f":
                cursor.stored.add(output_id)
            else:
                cursor.offsets[output_id] = int(match[2])
        return cursor

    def advance(self, event: FeedEvent) -> None:
        if isinstance(event, TextAdded):
            self.offsets[event.output_id] = event.offset + len(event.text)
        else:
            self.stored.add(event.output.id)

    def text(self, output_ids: list[int]) -> str:
        return ",".join(
            f"{oid}:f" if oid in self.stored else f"{oid}:{self.offsets.get(oid, 0)}" for oid in output_ids
        )


class ComparisonFeed:
    """Reads a comparison's answers as they are written, for any number of readers."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        live: LiveOutputs,
        *,
        poll_s: float = 0.25,
        keepalive_s: float = 15.0,
    ):
        self.sessions = sessions
        self.live = live
        self.poll_s = poll_s
        self.keepalive_s = keepalive_s

    async def follow(self, comparison: Comparison, cursor: Cursor) -> AsyncIterator[FeedEvent | None]:
        """Events from `cursor` on until every output is stored, the cursor advanced past each before it is
        yielded (so `cursor.text` is that event's id); None after `keepalive_s` without news. `comparison` is
        as read when the reader connected, its outputs with their variant versions."""
        rows = {output.id: output for output in comparison.outputs}
        remaining = [oid for oid in rows if oid not in cursor.stored]
        live = self.live.get(comparison.id)
        while remaining:
            pulse = live.pulse if live is not None else None
            events, elsewhere = self._read(comparison, rows, remaining, live, cursor)
            for event in events:
                cursor.advance(event)
                yield event
            remaining = [oid for oid in remaining if oid not in cursor.stored]
            if not remaining:
                return
            if elsewhere:
                await _wait(pulse, self.poll_s)
                rows |= await self._poll(comparison, elsewhere)
            elif not await _wait(pulse, self.keepalive_s):
                yield None

    def _read(
        self,
        comparison: Comparison,
        rows: dict[int, Output],
        remaining: list[int],
        live: LiveComparison | None,
        cursor: Cursor,
    ) -> tuple[list[FeedEvent], list[int]]:
        """What is new for each remaining output, and which ones only their rows can tell about."""
        events: list[FeedEvent] = []
        elsewhere = []
        for output_id in remaining:
            row = rows[output_id]
            answering = live.outputs.get(output_id) if live is not None else None
            stored: Output | None
            if answering is not None:
                text = answering.final.get("text", "") if answering.final is not None else answering.text
                stored = (
                    None
                    if answering.final is None
                    else stored_output(output_id, comparison.id, row.variant_version, row.position, answering.final)
                )
            else:
                text, stored = row.text, None if row.status == "pending" else row
                if stored is None:
                    elsewhere.append(output_id)
            offset = cursor.offsets.get(output_id, 0)
            if len(text) > offset:
                events.append(TextAdded(output_id, offset, text[offset:]))
            if stored is not None:
                events.append(OutputStored(stored))
        return events, elsewhere

    async def _poll(self, comparison: Comparison, output_ids: list[int]) -> dict[int, Output]:
        async with self.sessions() as session:
            found = await ComparisonRepository(session).outputs_of(comparison.id, output_ids)
        by_id = {output.id: output for output in comparison.outputs}
        for output in found:
            set_committed_value(output, "variant_version", by_id[output.id].variant_version)
        return {output.id: output for output in found}


async def _wait(pulse: asyncio.Event | None, seconds: float) -> bool:
    """Wait for the pulse (or just the time, without one); whether it came."""
    if pulse is None:
        await asyncio.sleep(seconds)
        return False
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await pulse.wait()
            return True
    return False
