"""A fake OpenAI-compatible server on loopback: the edge we cannot reach (hosted APIs) in tests and benches."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.servers import ServerThread


@dataclass
class FakeModel:
    """How one model name behaves: reply text, latency, failures."""

    reply: str = "fake answer"
    latency_s: float = 0.0
    fail_status: int | None = None
    # With fail_status: fail this many times, then succeed (0 = always fail).
    fail_times: int = 0
    retry_after: str | None = None
    hang: bool = False
    calls: int = field(default=0, init=False)


def _usage(payload: dict[str, Any], reply: str) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in payload.get("messages", []))
    completion = len(reply.split())
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


class FakeOpenAIServer:
    """`with FakeOpenAIServer({"m": FakeModel(...)}) as fake: fake.base_url` (ends in /v1)."""

    def __init__(self, models: dict[str, FakeModel]):
        self.models = models
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        app = Starlette(
            routes=[
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
            ]
        )
        self._server = ServerThread(app)
        self.base_url = f"{self._server.url}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._server.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.__exit__(exc_type, exc, tb)

    async def _list_models(self, _request: Request) -> Response:
        return JSONResponse(
            {"object": "list", "data": [{"id": name, "object": "model"} for name in self.models]}
        )

    async def _chat(self, request: Request) -> Response:
        payload = await request.json()
        self.requests.append(payload)
        self.headers.append(dict(request.headers))
        model = self.models.get(payload.get("model", ""))
        if model is None:
            return JSONResponse(
                {"error": {"message": "model not found", "type": "invalid_request_error"}}, 404
            )
        model.calls += 1
        if model.hang:
            await asyncio.sleep(3600)
        if model.fail_status and (model.fail_times == 0 or model.calls <= model.fail_times):
            headers = {"Retry-After": model.retry_after} if model.retry_after else None
            body = {"error": {"message": f"fake failure {model.fail_status}", "type": "fake"}}
            return JSONResponse(body, model.fail_status, headers=headers)
        await asyncio.sleep(model.latency_s)
        reply, created = model.reply, int(time.time())
        if not payload.get("stream"):
            return JSONResponse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": created,
                    "model": payload["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": _usage(payload, reply),
                }
            )
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(self._stream(payload, reply, include_usage), media_type="text/event-stream")

    async def _stream(self, payload: dict[str, Any], reply: str, include_usage: bool) -> AsyncIterator[str]:
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": payload["model"]}
        words = reply.split(" ")
        for i, word in enumerate(words):
            piece = word if i == 0 else " " + word
            yield (
                "data: "
                + json.dumps(base | {"choices": [{"index": 0, "delta": {"content": piece}}]})
                + "\n\n"
            )
        yield (
            "data: "
            + json.dumps(base | {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
            + "\n\n"
        )
        if include_usage:
            yield "data: " + json.dumps(base | {"choices": [], "usage": _usage(payload, reply)}) + "\n\n"
        yield "data: [DONE]\n\n"


def main() -> None:
    """`python -m tests.fakes.fake_openai --port P --latency 0.2 --models a,b`: run it in its own process."""
    import argparse
    import threading

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--models", default="fake")
    args = parser.parse_args()
    models = {
        name: FakeModel(reply="fixed answer", latency_s=args.latency) for name in args.models.split(",")
    }
    server = FakeOpenAIServer(models)
    server._server = ServerThread(server._server._server.config.app, port=args.port)
    with server:
        threading.Event().wait()


if __name__ == "__main__":
    main()
