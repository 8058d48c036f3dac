"""Every route and every dependency of every route is a coroutine (or an async generator): FastAPI runs a plain
`def` in its thread pool, a hop to another thread and back on each request, which on a busy server costs more
than what most dependencies do. The routes come from the app itself, so a new one is checked as it appears."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant

from tests.routes import every_route


def _calls(dependant: Dependant, path: str) -> Iterator[tuple[str, Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield f"{path} -> {getattr(sub.call, '__qualname__', sub.call)}", sub.call
        yield from _calls(sub, path)


def _runs_on_the_event_loop(call: Any) -> bool:
    return inspect.iscoroutinefunction(call) or inspect.isasyncgenfunction(call)


def test_every_route_and_dependency_runs_on_the_event_loop(app: FastAPI) -> None:
    routes = every_route(app.routes)
    assert len(routes) > 50  # the whole table, pages and API
    in_threads = [
        where
        for route, path in routes
        for where, call in [(path, route.endpoint), *_calls(route.dependant, path)]
        if not _runs_on_the_event_loop(call)
    ]
    assert in_threads == []


def test_the_check_tells_a_plain_function_from_a_coroutine() -> None:
    def plain() -> None: ...

    async def coroutine() -> None: ...

    class Injected:
        def __init__(self) -> None: ...

    assert not _runs_on_the_event_loop(plain) and not _runs_on_the_event_loop(Injected)
    assert _runs_on_the_event_loop(coroutine)
