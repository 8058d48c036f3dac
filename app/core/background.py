"""Keyed background tasks: one task per key, kept referenced until done, cancelled together on shutdown."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class KeyedTasks(Generic[T]):
    """Starting a key that is already running joins the running task instead of starting another."""

    def __init__(self, prefix: str):
        self._prefix = prefix
        self._tasks: dict[int, asyncio.Task[T]] = {}

    def start(self, key: int, make: Callable[[], Coroutine[Any, Any, T]]) -> asyncio.Task[T]:
        task = self._tasks.get(key)
        if task is None:
            task = asyncio.create_task(make(), name=f"{self._prefix}-{key}")
            self._tasks[key] = task
            task.add_done_callback(lambda _t: self._tasks.pop(key, None))
        return task

    def get(self, key: int) -> asyncio.Task[T] | None:
        return self._tasks.get(key)

    def running(self) -> list[asyncio.Task[T]]:
        return list(self._tasks.values())

    async def cancel_all(self) -> None:
        tasks = self.running()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
