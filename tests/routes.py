"""The app's whole route table, for tests that walk it."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute


def every_route(routes: list[Any], prefix: str = "") -> list[tuple[APIRoute, str]]:
    """(route, full path) of every route, through included routers (FastAPI keeps them nested)."""
    found = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append((route, prefix + route.path))
        elif hasattr(route, "original_router"):
            found += every_route(route.original_router.routes, prefix + route.include_context.prefix)
    return found
