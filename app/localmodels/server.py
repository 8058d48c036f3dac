"""The OpenAI-compatible HTTP surface of the bundled model server: GET /v1/models, POST /v1/chat/completions and
POST /v1/completions (streamed or not), answered by llama.cpp's server engine in OpenAI's shapes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse

from app.localmodels.engine import EngineError, Kind
from app.localmodels.registry import ModelRegistry, UnknownModel
from app.localmodels.schemas import ChatCompletionRequest, CompletionRequest, openai_error

# How long a request waited for a free slot of the model (ms): callers report latency without the queue.
QUEUE_HEADER = "X-Queue-Ms"


# Says whether a bearer token (None: none sent) may use the models.
Authorize = Callable[[str | None], Awaitable[bool]]


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def _refused(exc: EngineError) -> JSONResponse:
    return JSONResponse(openai_error(str(exc), kind=exc.kind, code=exc.code), exc.status)


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload)}\n\n"


async def answer(registry: ModelRegistry, kind: Kind, model: str, request: dict[str, Any], stream: bool) -> Response:
    """Ask the engine serving `model`; the answers name the model as asked (the engine would name its file)."""
    try:
        engine, adapter = await registry.engine(model)
    except UnknownModel:
        return JSONResponse(
            openai_error(f"The model '{model}' does not exist", code="model_not_found", param="model"), 404
        )
    if not stream:
        try:
            served = await engine.complete(kind, request, adapter)
        except EngineError as exc:
            return _refused(exc)
        return JSONResponse(served.response | {"model": model}, headers={QUEUE_HEADER: f"{served.queue_ms:.1f}"})
    timing: dict[str, float] = {}
    chunks = engine.stream(kind, request, adapter, on_start=lambda ms: timing.update(queue_ms=ms))
    # The first chunk comes before the answer starts, so a prompt that does not fit is a 400, not a broken stream.
    try:
        first = await anext(chunks)
    except EngineError as exc:
        return _refused(exc)
    except StopAsyncIteration:
        return _refused(EngineError("the model ended the stream before answering", status=502, kind="server_error"))

    async def events() -> AsyncIterator[str]:
        try:
            yield _event(first | {"model": model})
            async for chunk in chunks:
                yield _event(chunk | {"model": model})
            yield "data: [DONE]\n\n"
        except EngineError as exc:  # after the first chunk: said in the stream, as OpenAI's servers do
            yield _event(openai_error(str(exc), kind=exc.kind, code=exc.code))
        finally:
            await chunks.aclose()

    return StreamingResponse(
        events(),
        media_type="text/event-stream",
        # A slot was free before the first chunk, so the queue time is known.
        headers={"Cache-Control": "no-cache", QUEUE_HEADER: f"{timing.get('queue_ms', 0.0):.1f}"},
    )


def create_app(registry: ModelRegistry, authorize: Authorize | None = None) -> FastAPI:
    """The sub-app; the registry is owned (and closed) by the caller, since mounts get no lifespan. With
    `authorize`, every call needs a bearer token it accepts (a server reachable beyond this machine would
    otherwise serve every fine-tune to anyone); without it, access is open (a loopback-only server)."""
    app = FastAPI(title="Triptych local models", docs_url=None, redoc_url=None, openapi_url=None)

    if authorize is not None:
        check = authorize

        @app.middleware("http")
        async def _require_token(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
            if await check(bearer_token(request)):
                return await call_next(request)
            return JSONResponse(
                openai_error(
                    "this model server needs an API token: send Authorization: Bearer <token>",
                    kind="authentication_error",
                    code="invalid_api_key",
                ),
                401,
                headers={"WWW-Authenticate": "Bearer"},
            )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return JSONResponse(
            openai_error(f"{where}: {first.get('msg', 'invalid request')}", param=where or None), 400
        )

    @app.get("/v1/models")
    async def list_models() -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": s.model_id,
                    "object": "model",
                    "created": 0,
                    "owned_by": s.owned_by,
                    "description": s.description,
                }
                for s in registry.list()
            ],
        }

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest) -> Response:
        return await answer(registry, "chat", body.model, body.engine_request(), body.stream)

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest) -> Response:
        return await answer(registry, "completion", body.model, body.engine_request(), body.stream)

    return app
