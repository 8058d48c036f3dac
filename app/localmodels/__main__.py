"""`python -m app.localmodels --port 8001`: the bundled model server on its own (paths at /v1/...)."""

from __future__ import annotations

import argparse
import hmac
import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import uvicorn
from fastapi import FastAPI

from app.core.secrets import KeyCipher
from app.core.settings import Settings, get_settings
from app.localmodels.registry import ModelRegistry
from app.localmodels.server import Authorize, create_app


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _token_check(settings: Settings) -> Authorize:
    """Beyond loopback, callers send the service token (TRIPTYCH_API_TOKEN) or the token the Triptych app
    sharing this data folder's secret sends to its bundled server."""
    accepted = [KeyCipher.from_settings(settings.secret_key, settings.data_dir).local_model_token()]
    if settings.api_token:
        accepted.append(settings.api_token)

    async def authorize(token: str | None) -> bool:
        return token is not None and any(hmac.compare_digest(token, a) for a in accepted)

    return authorize


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the bundled model as an OpenAI-compatible endpoint.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    args = parser.parse_args()
    settings = get_settings()
    registry = ModelRegistry.with_bundled(
        n_threads=settings.local_model_threads,
        n_ctx=settings.local_model_context,
        parallel=settings.local_model_parallel,
        adapters_dir=settings.adapters_dir,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await registry.aclose()

    app = create_app(registry, None if _is_loopback(args.host) else _token_check(settings))
    app.router.lifespan_context = lifespan
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
