"""The bundled model server against the official openai client: real weights, llama.cpp's server engine in
process (xllamacpp), real HTTP."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import openai
import pytest

from app.core.settings import BUNDLED_MODEL_ID
from app.localmodels.registry import ModelRegistry
from app.localmodels.server import create_app
from tests.servers import ServerThread

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    registry = ModelRegistry.with_bundled(n_threads=2, n_ctx=2048)
    with ServerThread(create_app(registry)) as server:
        yield server.url


@pytest.fixture
def client(server_url: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(base_url=f"{server_url}/v1", api_key="unused", max_retries=0) as c:
        yield c


MESSAGES = [{"role": "user", "content": "Name one colour of the rainbow."}]


def test_models_lists_the_bundled_model(client: openai.OpenAI) -> None:
    assert [m.id for m in client.models.list()] == [BUNDLED_MODEL_ID]


def test_chat_completion_with_usage(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=BUNDLED_MODEL_ID, messages=MESSAGES, max_tokens=24, seed=1
    )  # type: ignore[arg-type]
    assert response.object == "chat.completion"
    assert response.choices[0].message.content
    assert response.choices[0].finish_reason in ("stop", "length")
    assert response.usage is not None
    assert response.usage.prompt_tokens > 5
    assert 0 < response.usage.completion_tokens <= 24


def test_streaming_yields_deltas_and_a_usage_chunk(client: openai.OpenAI) -> None:
    stream = client.chat.completions.create(
        model=BUNDLED_MODEL_ID,
        messages=MESSAGES,
        max_tokens=24,
        stream=True,  # type: ignore[arg-type]
        stream_options={"include_usage": True},
        seed=1,
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens > 0
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)


def test_same_seed_same_answer(client: openai.OpenAI) -> None:
    def ask() -> str | None:
        r = client.chat.completions.create(
            model=BUNDLED_MODEL_ID, messages=MESSAGES, max_tokens=16, seed=7, temperature=0.8
        )  # type: ignore[arg-type]
        return r.choices[0].message.content

    assert ask() == ask()


def test_unknown_model_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-9", messages=MESSAGES)  # type: ignore[arg-type]
    assert "gpt-9" in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        {"model": BUNDLED_MODEL_ID, "messages": []},
        {"model": BUNDLED_MODEL_ID, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0},
        {"model": BUNDLED_MODEL_ID, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100_000},
        {"model": BUNDLED_MODEL_ID, "messages": [{"role": "wizard", "content": "hi"}]},
        {"model": BUNDLED_MODEL_ID, "messages": [{"role": "user", "content": "word " * 5000}]},
    ],
)
def test_bad_input_is_400_in_openai_shape(server_url: str, body: dict[str, object]) -> None:
    response = httpx.post(f"{server_url}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 400
    assert response.json()["error"]["message"]


def test_stream_with_too_long_prompt_is_400_not_a_broken_stream(server_url: str) -> None:
    body = {
        "model": BUNDLED_MODEL_ID,
        "stream": True,
        "messages": [{"role": "user", "content": "word " * 5000}],
    }
    response = httpx.post(f"{server_url}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 400
    assert "context" in response.json()["error"]["message"]


COUNTING = [{"role": "user", "content": "Count from 1 to 100, separated by commas."}]


async def _streamed(http: httpx.AsyncClient, seed: int) -> tuple[float, float, float]:
    """(first token at, done at, the server's reported slot wait in ms) of one streamed answer."""
    body = {"model": BUNDLED_MODEL_ID, "messages": COUNTING, "max_tokens": 48, "temperature": 0, "seed": seed}
    first = None
    async with http.stream("POST", "/v1/chat/completions", json=body | {"stream": True}) as response:
        async for line in response.aiter_lines():
            if first is None and line.startswith("data: {"):
                choices = json.loads(line.removeprefix("data: "))["choices"]
                if choices and choices[0]["delta"].get("content"):
                    first = time.perf_counter()
    assert first is not None
    return first, time.perf_counter(), float(response.headers["x-queue-ms"])


async def test_concurrent_requests_are_decoded_together_and_the_loop_stays_responsive(server_url: str) -> None:
    """Four streamed answers at once: every one has begun before any has finished (one request at a time, the
    fourth would start only after the third ended), none waited for a slot, and the event loop answers
    meanwhile."""
    async with httpx.AsyncClient(base_url=server_url, timeout=120) as http:
        answers = [asyncio.create_task(_streamed(http, seed)) for seed in range(4)]
        await asyncio.sleep(0.3)
        started = time.perf_counter()
        models = await http.get("/v1/models")
        models_latency = time.perf_counter() - started
        results = await asyncio.gather(*answers)
    assert models.status_code == 200
    assert models_latency < 0.5, f"/v1/models took {models_latency:.2f}s during generation: the loop was blocked"
    assert max(first for first, _done, _wait in results) < min(done for _first, done, _wait in results)
    assert [wait < 100 for _first, _done, wait in results] == [True] * 4


async def test_a_fifth_request_waits_for_a_slot_and_says_how_long(server_url: str) -> None:
    async with httpx.AsyncClient(base_url=server_url, timeout=120) as http:
        results = await asyncio.gather(*(_streamed(http, seed) for seed in range(5)))
    waits = sorted(wait for _first, _done, wait in results)
    assert waits[-1] > 100 and waits[0] < 100  # four slots: one request waited, measured apart


def test_completions_continue_a_prompt(server_url: str) -> None:
    with openai.OpenAI(base_url=f"{server_url}/v1", api_key="unused", max_retries=0) as client:
        response = client.completions.create(
            model=BUNDLED_MODEL_ID, prompt="The capital of France is", max_tokens=8, temperature=0
        )
    assert response.object == "text_completion" and response.model == BUNDLED_MODEL_ID
    assert response.choices[0].text and response.usage is not None and response.usage.completion_tokens > 0


def test_a_json_schema_holds_the_answer_to_it(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"colour": {"type": "string"}, "count": {"type": "integer"}},
        "required": ["colour", "count"],
        "additionalProperties": False,
    }
    response = client.chat.completions.create(
        model=BUNDLED_MODEL_ID,
        messages=MESSAGES,
        max_tokens=64,
        temperature=0,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}},
    )
    answer = json.loads(response.choices[0].message.content or "")
    assert set(answer) == {"colour", "count"} and isinstance(answer["count"], int)
    assert response.model == BUNDLED_MODEL_ID  # the id asked for, never the engine's file path


def test_engine_fields_sent_by_a_client_go_no_further(server_url: str) -> None:
    """llama.cpp's own request fields (n_predict past the token cap, a LoRA of the client's choosing) are not
    passed on: the answer is held to max_tokens."""
    body = {
        "model": BUNDLED_MODEL_ID,
        "messages": COUNTING,
        "max_tokens": 4,
        "n_predict": 400,
        "lora": [{"id": 0, "scale": 1.0}],
        "temperature": 0,
    }
    response = httpx.post(f"{server_url}/v1/chat/completions", json=body, timeout=60)
    assert response.status_code == 200 and response.json()["usage"]["completion_tokens"] <= 4
