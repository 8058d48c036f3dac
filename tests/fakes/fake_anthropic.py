"""A fake Anthropic Messages API on loopback: streams a reply word by word as Anthropic's events do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.servers import ServerThread


class FakeAnthropicServer:
    """`.base_url` is the host root (the provider adds /v1/messages); every request body is in `.requests`."""

    def __init__(self, reply: str, *, token_delay_s: float = 0.0):
        self.reply = reply
        self.token_delay_s = token_delay_s
        self.requests: list[dict[str, Any]] = []
        self._server = ServerThread(Starlette(routes=[Route("/v1/messages", self._messages, methods=["POST"])]))
        self.base_url = ""

    def __enter__(self) -> FakeAnthropicServer:
        self._server.__enter__()
        self.base_url = self._server.url
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.__exit__(exc_type, exc, tb)

    async def _messages(self, request: Request) -> Response:
        payload = await request.json()
        self.requests.append(payload)
        return StreamingResponse(self._events(payload), media_type="text/event-stream")

    async def _events(self, payload: dict[str, Any]) -> AsyncIterator[str]:
        def event(kind: str, **fields: Any) -> str:
            return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n"

        words = self.reply.split(" ")
        yield event("message_start", message={"model": payload["model"], "usage": {"input_tokens": 9, "output_tokens": 1}})
        yield event("content_block_start", index=0, content_block={"type": "text", "text": ""})
        yield event("ping")
        for i, word in enumerate(words):
            if i and self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
            text = word if i == 0 else " " + word
            yield event("content_block_delta", index=0, delta={"type": "text_delta", "text": text})
        yield event("content_block_stop", index=0)
        yield event("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": len(words)})
        yield event("message_stop")
