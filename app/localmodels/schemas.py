"""Request schemas of the OpenAI subset the bundled model server takes (chat completions, completions). What
reaches the engine is built from the fields named here: llama.cpp's own request fields (`lora`, `n_predict`,
`id_slot`, ...) sent by a client go no further."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_NEW_TOKENS = 1024


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str
    text: str = ""


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = ""

    def text(self) -> str:
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content if p.type == "text")
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")
    include_usage: bool = False


class ResponseFormat(BaseModel):
    """`text`, `json_object`, or `json_schema` with {"name", "schema", "strict"}: output held to it."""

    model_config = ConfigDict(extra="forbid")
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class _Sampling(BaseModel):
    # Unknown OpenAI fields (user, n=1, logit_bias, ...) are accepted and ignored, as real servers do.
    model_config = ConfigDict(extra="allow")
    model: str
    temperature: Annotated[float, Field(ge=0, le=2)] = 0.7
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    max_tokens: Annotated[int | None, Field(ge=1, le=MAX_NEW_TOKENS)] = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    seed: int | None = None
    n: Annotated[int, Field(ge=1, le=1)] = 1

    @field_validator("stop")
    @classmethod
    def _stops(cls, value: str | list[str] | None) -> list[str] | None:
        if value is None:
            return None
        stops = [value] if isinstance(value, str) else value
        if len(stops) > 4:
            raise ValueError("at most 4 stop sequences")
        return stops

    def new_tokens(self) -> int:
        return self.max_tokens or 256

    def sampling(self) -> dict[str, Any]:
        """The engine request's sampling fields (llama.cpp takes OpenAI's names)."""
        request: dict[str, Any] = {
            "max_tokens": self.new_tokens(),
            "temperature": self.temperature,
            "top_p": self.top_p,
        }
        if self.stop:
            request["stop"] = self.stop
        if self.seed is not None:
            request["seed"] = self.seed
        if self.stream_options is not None:
            request["stream_options"] = {"include_usage": self.stream_options.include_usage}
        return request


class ChatCompletionRequest(_Sampling):
    messages: Annotated[list[Message], Field(min_length=1)]
    max_completion_tokens: Annotated[int | None, Field(ge=1, le=MAX_NEW_TOKENS)] = None
    response_format: ResponseFormat | None = None

    def chat_messages(self) -> list[dict[str, str]]:
        # "developer" is OpenAI's newer name for the system role.
        return [
            {"role": "system" if m.role == "developer" else m.role, "content": m.text()}
            for m in self.messages
        ]

    def new_tokens(self) -> int:
        return self.max_completion_tokens or self.max_tokens or 256

    def engine_request(self) -> dict[str, Any]:
        request = self.sampling() | {"messages": self.chat_messages()}
        if self.response_format is not None:
            request["response_format"] = self.response_format.model_dump(exclude_none=True)
        return request


class CompletionRequest(_Sampling):
    """OpenAI's legacy /v1/completions: a prompt continued as is (no chat template)."""

    prompt: str | Annotated[list[str], Field(min_length=1, max_length=1)]

    def engine_request(self) -> dict[str, Any]:
        return self.sampling() | {"prompt": self.prompt if isinstance(self.prompt, str) else self.prompt[0]}


def openai_error(
    message: str, *, kind: str = "invalid_request_error", code: str | None = None, param: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}
