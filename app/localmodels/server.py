"""The OpenAI-compatible HTTP surface: GET /v1/models, POST /v1/chat/completions (streamed or not)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse

from app.localmodels.engine import Generation, GenerationParams, PromptTooLong
from app.localmodels.registry import ModelRegistry, UnknownModel
from app.localmodels.schemas import ChatCompletionRequest, openai_error


def _usage(generation: Generation) -> dict[str, int]:
    return {
        "prompt_tokens": generation.prompt_tokens,
        "completion_tokens": generation.completion_tokens,
        "total_tokens": generation.prompt_tokens + generation.completion_tokens,
    }


# How long a request waited behind others for the model (ms): callers report latency without the queue.
QUEUE_HEADER = "X-Queue-Ms"


# Says whether a bearer token (None: none sent) may use the models.
Authorize = Callable[[str | None], Awaitable[bool]]


def bearer_token(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


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
        try:
            engine = await registry.engine(body.model)
        except UnknownModel:
            return JSONResponse(
                openai_error(
                    f"The model '{body.model}' does not exist", code="model_not_found", param="model"
                ),
                404,
            )
        params = GenerationParams(
            max_tokens=body.new_tokens(),
            temperature=body.temperature,
            top_p=body.top_p,
            stop=tuple(body.stop or ()),
            seed=body.seed,
        )
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if not body.stream:
            try:
                generation = await engine.complete(body.chat_messages(), params)
            except PromptTooLong as exc:
                return JSONResponse(openai_error(str(exc), code="context_length_exceeded"), 400)
            return JSONResponse(
                {
                    "id": completion_id,
                    "object": "chat.completion",
                    "created": created,
                    "model": body.model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": generation.text},
                            "finish_reason": generation.finish_reason,
                        }
                    ],
                    "usage": _usage(generation),
                },
                headers={QUEUE_HEADER: f"{generation.queue_ms:.1f}"},
            )
        timing: dict[str, float] = {}
        stream = engine.stream(body.chat_messages(), params, on_start=lambda ms: timing.update(queue_ms=ms))
        # Pull the first item before answering, so a prompt that does not fit is a 400, not a broken stream.
        try:
            first = await anext(stream)
        except PromptTooLong as exc:
            return JSONResponse(openai_error(str(exc), code="context_length_exceeded"), 400)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        base = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": body.model,
        }

        async def events() -> AsyncIterator[str]:
            def chunk(delta: dict[str, str], finish: str | None = None) -> str:
                choice = {"index": 0, "delta": delta, "finish_reason": finish}
                return f"data: {json.dumps(base | {'choices': [choice]})}\n\n"

            try:
                yield chunk({"role": "assistant", "content": ""})
                item: str | Generation = first
                while isinstance(item, str):
                    yield chunk({"content": item})
                    item = await anext(stream)
                yield chunk({}, item.finish_reason)
                if include_usage:
                    yield f"data: {json.dumps(base | {'choices': [], 'usage': _usage(item)})}\n\n"
                yield "data: [DONE]\n\n"
            finally:
                await stream.aclose()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            # Generation has begun (the first item is in hand), so the queue time is known.
            headers={"Cache-Control": "no-cache", QUEUE_HEADER: f"{timing.get('queue_ms', 0.0):.1f}"},
        )

    return app
