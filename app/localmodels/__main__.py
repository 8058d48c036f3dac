"""`python -m app.localmodels --port 8001`: the bundled model server on its own (paths at /v1/...)."""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from app.core.settings import get_settings
from app.localmodels.registry import ModelRegistry
from app.localmodels.server import create_app


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the bundled model as an OpenAI-compatible endpoint.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    settings = get_settings()
    registry = ModelRegistry.with_bundled(
        n_threads=settings.local_model_threads, n_ctx=settings.local_model_context, adapters_dir=settings.adapters_dir
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await registry.aclose()

    app = create_app(registry)
    app.router.lifespan_context = lifespan
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
