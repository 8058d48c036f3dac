"""A fake OpenAI-compatible server on loopback: the edge we cannot reach (hosted APIs) in tests and benches.

    with FakeOpenAIServer({"slow": FakeModel(reply="hi", latency_s=0.3)}) as fake:
        EndpointConfig(kind="openai", base_url=fake.base_url, model="slow")

Behaviour is chosen per model name (the request's `model` field); every chat request body is recorded in
`.requests` (and its headers in `.headers`). Latency uses `await asyncio.sleep`, so concurrent requests
overlap exactly as they would against a real server.
"""

from __future__ import annotations

import asyncio
import gc
import json
import threading
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
    # Wait before answering (before the response headers, so it is also the time to first token).
    latency_s: float = 0.0
    fail_status: int | None = None
    # With fail_status: fail this many times, then succeed (0 = always fail).
    fail_times: int = 0
    retry_after: str | None = None
    # Never answer (a stuck upstream): the caller's timeout has to fire.
    hang: bool = False
    # Answer 400 to requests carrying stream_options, like servers without the usage extension.
    reject_stream_options: bool = False
    # Pause between streamed words, so the whole answer takes longer than the first token.
    token_delay_s: float = 0.0
    # With fail_status: answer this raw body (an HTML page, an echo of the request) instead of a JSON error.
    error_body: str | None = None
    # A hostile server: answer the whole reply whatever max_tokens asked for.
    ignore_max_tokens: bool = False
    # Like the bundled server: wait this long "in a queue" first and report it in X-Queue-Ms.
    queue_s: float = 0.0
    # A judge: answer "A" when the text between "[Answer A]" and its end marker contains this, else "B".
    judge_prefers: str | None = None
    calls: int = field(default=0, init=False)
    # Streams the client closed before their end (a Stop, a cancelled call).
    disconnects: int = field(default=0, init=False)


def _error(status: int, message: str, kind: str = "invalid_request_error", **headers: str) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status, headers=headers or None)


def _usage(payload: dict[str, Any], completion: list[str]) -> dict[str, int]:
    # Words stand in for tokens: deterministic and good enough for cost arithmetic in tests.
    prompt = sum(len(str(m.get("content", "")).split()) for m in payload.get("messages", []))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": len(completion),
        "total_tokens": prompt + len(completion),
    }


def _judged(payload: dict[str, Any], prefers: str) -> str:
    prompt = str(payload.get("messages", [{}])[-1].get("content", ""))
    first = prompt.split("[Answer A]", 1)[-1].split("[End of answer A]", 1)[0]
    return "A" if prefers in first else "B"


class FakeOpenAIServer:
    """A real uvicorn server in a background thread; `.base_url` ends in /v1."""

    def __init__(
        self,
        models: dict[str, FakeModel],
        *,
        port: int | None = None,
        api_key: str | None = None,
        extra_routes: list[Route] | None = None,
    ) -> None:
        self.models = models
        # With api_key set, requests without `Authorization: Bearer <api_key>` get a 401.
        self.api_key = api_key
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        # How many requests were waiting out their latency at once, at most (tests of concurrency read it).
        self.in_flight = 0
        self.max_in_flight = 0
        app = Starlette(
            routes=[
                Route("/v1/models", self._list_models, methods=["GET"]),
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                *(extra_routes or []),
            ]
        )
        self._server = ServerThread(app, port=port)
        self.base_url = f"{self._server.url}/v1"

    def __enter__(self) -> FakeOpenAIServer:
        self._server.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.__exit__(exc_type, exc, tb)

    def _refused_key(self, request: Request) -> Response | None:
        if self.api_key is None:
            return None
        sent = request.headers.get("authorization", "").removeprefix("Bearer ")
        if sent == self.api_key:
            return None
        # Echoes what it was sent, as some proxies do: callers must scrub keys from error messages.
        return _error(401, f"Incorrect API key provided: {sent or '(none)'}")

    async def _list_models(self, request: Request) -> Response:
        if refused := self._refused_key(request):
            return refused
        return JSONResponse(
            {
                "object": "list",
                "data": [{"id": name, "object": "model", "owned_by": "fake"} for name in self.models],
            }
        )

    async def _chat(self, request: Request) -> Response:
        payload = await request.json()
        self.requests.append(payload)
        self.headers.append(dict(request.headers))
        if refused := self._refused_key(request):
            return refused
        model = self.models.get(payload.get("model", ""))
        if model is None:
            return _error(404, f"The model {payload.get('model')!r} does not exist", "not_found_error")
        model.calls += 1
        if model.hang:
            await asyncio.sleep(3600)
        if model.reject_stream_options and "stream_options" in payload:
            return _error(400, "Unrecognized request argument supplied: stream_options")
        if model.fail_status and (model.fail_times == 0 or model.calls <= model.fail_times):
            headers = {"Retry-After": model.retry_after} if model.retry_after else {}
            if model.error_body is not None:
                return Response(model.error_body, model.fail_status, headers=headers, media_type="text/html")
            return _error(model.fail_status, f"fake failure {model.fail_status}", "fake_error", **headers)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        queue = {"X-Queue-Ms": f"{model.queue_s * 1000:.1f}"} if model.queue_s else None
        try:
            await asyncio.sleep(model.queue_s + model.latency_s)
        finally:
            self.in_flight -= 1
        reply = model.reply if model.judge_prefers is None else _judged(payload, model.judge_prefers)
        words = reply.split(" ")
        limit = None if model.ignore_max_tokens else payload.get("max_tokens") or payload.get("max_completion_tokens")
        finish = "length" if isinstance(limit, int) and len(words) > limit else "stop"
        words = words[:limit] if finish == "length" else words
        if not payload.get("stream"):
            return JSONResponse(
                {
                    "id": "chatcmpl-fake",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": payload["model"],
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": " ".join(words)},
                            "finish_reason": finish,
                        }
                    ],
                    "usage": _usage(payload, words),
                },
                headers=queue,
            )
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            self._stream(payload, words, finish, include_usage, model),
            media_type="text/event-stream",
            headers=queue,
        )

    async def _stream(
        self, payload: dict[str, Any], words: list[str], finish: str, include_usage: bool, model: FakeModel
    ) -> AsyncIterator[str]:
        base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "model": payload["model"]}

        def event(**fields: Any) -> str:
            return f"data: {json.dumps(base | fields)}\n\n"

        ended = False
        try:
            # Real servers open with an empty role-only delta: time to first token must skip it.
            yield event(choices=[{"index": 0, "delta": {"role": "assistant", "content": ""}}])
            for i, word in enumerate(words):
                if i and model.token_delay_s:
                    await asyncio.sleep(model.token_delay_s)
                yield event(choices=[{"index": 0, "delta": {"content": word if i == 0 else " " + word}}])
            yield event(choices=[{"index": 0, "delta": {}, "finish_reason": finish}])
            if include_usage:
                yield event(choices=[], usage=_usage(payload, words))
            yield "data: [DONE]\n\n"
            ended = True
        finally:
            if not ended:
                model.disconnects += 1


def main() -> None:
    """`python -m tests.fakes.fake_openai --port P --latency 0.2 --models a,b`: run it in its own process."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    parser.add_argument("--models", default="fake", help="comma-separated model names")
    parser.add_argument("--reply", default="fixed answer")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between streamed words")
    args = parser.parse_args()
    models = {
        name: FakeModel(reply=args.reply, latency_s=args.latency, token_delay_s=args.token_delay)
        for name in args.models.split(",")
    }
    with FakeOpenAIServer(models, port=args.port):
        # Its own collector pauses would show up as the app's latency: freeze what is loaded (as the app does).
        gc.collect()
        gc.freeze()
        threading.Event().wait()


if __name__ == "__main__":
    main()
