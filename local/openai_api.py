"""OpenAI completions and chat completions in front of the local LLM engine, as vLLM serves them.

vLLM's SageMaker `/invocations` tries a body as a chat completion (`messages`), then as a
completion (`prompt`). Behaviour copied from vLLM 0.30: stop strings are left out of the
output (and held back while streaming until they cannot be one), a prompt that does not
leave room for `max_tokens` is a 400, errors are `{"error": {"message", "type", "param",
"code"}}`, streams are `data: {chunk}` events ending with `data: [DONE]`, with a usage-only
chunk first when `stream_options.include_usage` is set.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from local.grammar import check_json_schema
from local.llm import Engine, Sampling, draw_seed

# vLLM's default max_tokens for completions; chat defaults to what the context has left.
COMPLETION_DEFAULT_MAX_TOKENS = 16


class OpenAiError(Exception):
    """An error answer in vLLM's shape; `code` is the HTTP status."""

    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.status = status

    def body(self) -> dict[str, Any]:
        kind = "BadRequestError" if self.status == 400 else "InternalServerError"
        return {
            "error": {
                "message": self.message,
                "type": kind,
                "param": self.param,
                "code": self.status,
            }
        }


class StreamOptions(BaseModel):
    include_usage: bool = False


class ResponseFormat(BaseModel):
    """OpenAI's `response_format`, which vLLM honours by guided decoding."""

    model_config = ConfigDict(extra="ignore")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None

    def output_schema(self) -> dict[str, Any] | None:
        """The schema the output must fit (any object for json_object); None for text."""
        if self.type == "text":
            return None
        if self.type == "json_object":
            return {"type": "object"}
        schema = (self.json_schema or {}).get("schema")
        if not isinstance(schema, dict):
            raise OpenAiError("response_format.json_schema.schema must be a JSON schema.")
        return schema


class _Sampled(BaseModel):
    """Fields both request kinds share; unknown fields are ignored, as vLLM does."""

    model_config = ConfigDict(extra="ignore")

    model: str | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    repetition_penalty: float | None = None
    truncate_prompt_tokens: int | None = None
    # vLLM's extension that makes a generation's length independent of the model's choices.
    ignore_eos: bool = False


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant"]
    content: str


class ChatRequest(_Sampled):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = None


class CompletionRequest(_Sampled):
    prompt: str


@dataclass
class ValidRequest:
    """A request that passed validation, with its input tokenized."""

    kind: Literal["chat", "completion"]
    request: ChatRequest | CompletionRequest
    input_ids: list[int]
    max_tokens: int
    sampling: Sampling
    stops: list[str]
    served_model: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def object(self) -> str:
        return "chat.completion" if self.kind == "chat" else "text_completion"


@dataclass
class Completion:
    """The text so far (stop strings left out) and why generation ended."""

    text: str = ""
    tokens: int = 0
    finish_reason: str | None = None


def parse_request(body: bytes) -> ChatRequest | CompletionRequest:
    """A chat completion if the body validates as one, else a completion, else a 400."""
    return request_of(decode_json(body))


def decode_json(body: bytes) -> Any:
    """The body's JSON, or vLLM's 400."""
    try:
        return json.loads(body)
    except ValueError as err:
        raise OpenAiError(f"JSON decode error: {err}") from None


def request_of(raw: Any) -> ChatRequest | CompletionRequest:
    """Decoded JSON as the first request kind it validates as (chat first, as vLLM tries)."""
    for model in (ChatRequest, CompletionRequest):
        try:
            return model.model_validate(raw)
        except ValidationError:
            continue
    raise OpenAiError(
        "Cannot find suitable handler for request. Expected one of: "
        "['ChatCompletionRequest', 'CompletionRequest']"
    )


def validate(
    request: ChatRequest | CompletionRequest,
    engine: Engine,
    max_model_len: int,
    served_model: str,
) -> ValidRequest:
    """vLLM's checks and defaults; raises OpenAiError (400) naming the parameter."""
    if request.model is not None and request.model != served_model:
        raise OpenAiError(f"The model `{request.model}` does not exist.", "model", 404)
    if request.stream_options is not None and not request.stream:
        raise OpenAiError("Stream options can only be defined when `stream=True`.", "stream")
    temperature = 1.0 if request.temperature is None else request.temperature
    top_p = 1.0 if request.top_p is None else request.top_p
    repetition_penalty = request.repetition_penalty or 1.0
    if temperature < 0:
        raise OpenAiError(f"temperature must be non-negative, got {temperature}.", "temperature")
    if not 0 < top_p <= 1:
        raise OpenAiError(f"top_p must be in (0, 1], got {top_p}.", "top_p")
    if repetition_penalty <= 0:
        raise OpenAiError("repetition_penalty must be greater than zero.", "repetition_penalty")
    if isinstance(request, ChatRequest):
        kind: Literal["chat", "completion"] = "chat"
        messages = [m.model_dump() for m in request.messages]
        input_ids = engine.tokenize(engine.format_chat(messages), add_special=False)
        wanted = request.max_completion_tokens or request.max_tokens
    else:
        kind = "completion"
        input_ids = engine.tokenize(request.prompt)
        wanted = request.max_tokens or COMPLETION_DEFAULT_MAX_TOKENS
    if request.truncate_prompt_tokens is not None:
        input_ids = input_ids[-request.truncate_prompt_tokens :]
    if wanted is not None and wanted < 1:
        raise OpenAiError(f"max_tokens must be at least 1, got {wanted}.", "max_tokens")
    if wanted is not None and wanted > max_model_len:
        raise OpenAiError(
            f"max_tokens={wanted} cannot be greater than max_model_len={max_model_len}.",
            "max_tokens",
        )
    max_tokens = wanted if wanted is not None else max_model_len - len(input_ids)
    if len(input_ids) + max_tokens > max_model_len:
        raise OpenAiError(
            f"This model's maximum context length is {max_model_len} tokens. However, you "
            f"requested {max_tokens} output tokens and your prompt contains {len(input_ids)} "
            f"input tokens, for a total of {len(input_ids) + max_tokens} tokens. Please reduce "
            "the length of the input prompt or the number of requested output tokens.",
            "input_tokens",
        )
    stops = [request.stop] if isinstance(request.stop, str) else list(request.stop or [])
    schema = request.response_format.output_schema() if request.response_format else None
    if schema is not None:
        problem = check_json_schema(schema)
        if problem:
            raise OpenAiError(
                f"Invalid JSON schema in response_format: {problem}", "response_format"
            )
    sampling = Sampling(
        temperature=temperature,
        top_p=top_p,
        top_k=max(request.top_k or 0, 0),
        repetition_penalty=repetition_penalty,
        # vLLM draws a fresh seed per request unless one is given.
        seed=request.seed if request.seed is not None else draw_seed(),
        json_schema=json.dumps(schema) if schema is not None else None,
    )
    return ValidRequest(kind, request, input_ids, max_tokens, sampling, stops, served_model)


def generate(
    engine: Engine, valid: ValidRequest, state: Completion, cancel: threading.Event
) -> Iterator[str]:
    """Text deltas under vLLM's stopping rules; `state` ends with the text and finish reason."""
    ignore_eos = valid.request.ignore_eos
    held = ""
    longest_stop = max((len(stop) for stop in valid.stops), default=0)
    for token in engine.generate(
        valid.input_ids, valid.sampling, cancel, stop_at_end=not ignore_eos
    ):
        state.tokens += 1
        if token.eog and not ignore_eos:
            # The end-of-generation token itself is never part of the output.
            state.finish_reason = "stop"
            break
        held += "" if token.special else token.text
        cut = _first_stop(held, valid.stops)
        if cut is not None:
            held = held[:cut]
            state.finish_reason = "stop"
            break
        # Text that could still begin a stop string waits for the next token.
        ready = held[: len(held) - _partial_stop(held, valid.stops, longest_stop)]
        held = held[len(ready) :]
        if ready:
            state.text += ready
            yield ready
        if state.tokens >= valid.max_tokens:
            state.finish_reason = "length"
            break
    else:
        # The context filled up, or the caller went away.
        state.finish_reason = "length"
    if held:
        state.text += held
        yield held


def _first_stop(text: str, stops: list[str]) -> int | None:
    found = [text.find(stop) for stop in stops if stop and stop in text]
    return min(found) if found else None


def _partial_stop(text: str, stops: list[str], longest: int) -> int:
    for size in range(min(longest - 1, len(text)), 0, -1):
        if any(stop.startswith(text[-size:]) for stop in stops):
            return size
    return 0


def usage(valid: ValidRequest, state: Completion) -> dict[str, int]:
    prompt = len(valid.input_ids)
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + state.tokens,
        "completion_tokens": state.tokens,
    }


def response_body(valid: ValidRequest, state: Completion) -> dict[str, Any]:
    """The non-streamed answer."""
    if valid.kind == "chat":
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": state.text},
            "logprobs": None,
            "finish_reason": state.finish_reason,
        }
        prefix = "chatcmpl"
    else:
        choice = {
            "index": 0,
            "text": state.text,
            "logprobs": None,
            "finish_reason": state.finish_reason,
        }
        prefix = "cmpl"
    return {
        "id": f"{prefix}-{valid.id}",
        "object": valid.object,
        "created": valid.created,
        "model": valid.served_model,
        "choices": [choice],
        "usage": usage(valid, state),
    }


def sse(payload: dict[str, Any] | str) -> bytes:
    """One event as vLLM writes it (`data: ` with a space)."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return b"data: " + data.encode("utf-8") + b"\n\n"


class StreamWriter:
    """The chunks of one streamed answer."""

    def __init__(self, valid: ValidRequest) -> None:
        self.valid = valid
        chat = valid.kind == "chat"
        self._object = "chat.completion.chunk" if chat else "text_completion"
        self._id = f"{'chatcmpl' if chat else 'cmpl'}-{valid.id}"

    def first(self) -> bytes:
        """vLLM opens a chat stream with a role-only delta; completions have no such chunk."""
        if self.valid.kind != "chat":
            return b""
        return self._chunk({"role": "assistant", "content": ""}, None)

    def delta(self, text: str, finish_reason: str | None = None) -> bytes:
        if self.valid.kind == "chat":
            return self._chunk(
                {"content": text} if text or finish_reason is None else {}, finish_reason
            )
        return self._chunk(text, finish_reason)

    def end(self, state: Completion) -> bytes:
        """The closing chunk with the finish reason, usage if asked for, and [DONE]."""
        out = self.delta("", state.finish_reason)
        options = self.valid.request.stream_options
        if options is not None and options.include_usage:
            out += sse(self._body([]) | {"usage": usage(self.valid, state)})
        return out + sse("[DONE]")

    def error(self, message: str) -> bytes:
        """A failure after the stream started: an error event, then [DONE], as vLLM sends."""
        return sse(OpenAiError(message, status=500).body()) + sse("[DONE]")

    def _chunk(self, content: dict[str, Any] | str, finish_reason: str | None) -> bytes:
        if isinstance(content, dict):
            choice: dict[str, Any] = {"index": 0, "delta": content}
        else:
            choice = {"index": 0, "text": content}
        choice |= {"logprobs": None, "finish_reason": finish_reason}
        return sse(self._body([choice]))

    def _body(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self._id,
            "object": self._object,
            "created": self.valid.created,
            "model": self.valid.served_model,
            "choices": choices,
        }
