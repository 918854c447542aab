"""The text-generation-inference (TGI) contract in front of the local LLM engine.

Requests, validation (same checks, order and messages as TGI's router), the JSON answer and
the server-sent events of a streamed answer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from local.grammar import check_json_schema
from local.llm import Engine, GeneratedToken, Sampling, draw_seed

# TGI's router defaults for the limits a config does not set.
MAX_STOP_SEQUENCES = 4
MAX_BEST_OF = 2
DEFAULT_GENERATION_LENGTH = 1024
RequestModel = TypeVar("RequestModel", bound=BaseModel)


class TgiError(Exception):
    """An error answer of the TGI container: HTTP status plus `{"error", "error_type"}`."""

    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type

    def body(self) -> dict[str, str]:
        return {"error": self.message, "error_type": self.error_type}


def validation_error(message: str) -> TgiError:
    return TgiError(422, f"Input validation error: {message}", "validation")


class Grammar(BaseModel):
    """TGI's `grammar` (and its chat route's `response_format`): a JSON schema or a regex."""

    model_config = ConfigDict(extra="forbid")

    # TGI's serde names; json_object is its alias of json on the chat route.
    type: Literal["json", "json_object", "json_schema", "regex"]
    value: Any = None

    def json_schema(self) -> Any:
        """The schema to decode by (a JSON string is parsed, as TGI does)."""
        value = self.value
        if self.type == "json_schema" and isinstance(value, dict):
            value = value.get("schema")
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                return None
        return value


class Parameters(BaseModel):
    """TGI's `parameters`; unknown keys are ignored as TGI's deserializer does."""

    model_config = ConfigDict(extra="ignore")

    best_of: int | None = None
    temperature: float | None = None
    repetition_penalty: float | None = None
    top_k: int | None = None
    top_p: float | None = None
    typical_p: float | None = None
    do_sample: bool = False
    max_new_tokens: int | None = None
    return_full_text: bool | None = None
    stop: list[str] = []
    truncate: int | None = None
    seed: int | None = None
    details: bool = False
    decoder_input_details: bool = False
    grammar: Grammar | None = None


class GenerateRequest(BaseModel):
    """The body TGI's SageMaker route (`/invocations`) accepts."""

    model_config = ConfigDict(extra="ignore")

    inputs: str
    parameters: Parameters = Parameters()
    stream: bool = False


@dataclass(frozen=True)
class Limits:
    """The token budget the TGI container was started with."""

    max_input_tokens: int
    max_total_tokens: int


@dataclass
class ValidRequest:
    """A request that passed validation, with its prompt already tokenized."""

    request: GenerateRequest
    input_ids: list[int]
    max_new_tokens: int
    sampling: Sampling

    @property
    def parameters(self) -> Parameters:
        return self.request.parameters


@dataclass
class Generation:
    """The tokens produced so far and why generation stopped."""

    tokens: list[GeneratedToken] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None


def is_chat(raw: Any) -> bool:
    """A body TGI's generate contract would not take but its chat route would."""
    return isinstance(raw, dict) and "inputs" not in raw and "messages" in raw


def parse_request(body: bytes) -> GenerateRequest:
    """Decode a body the way TGI's JSON extractor does (400 bad JSON, 422 wrong shape)."""
    return decode_body(body, GenerateRequest)


def decode_json(body: bytes) -> Any:
    """The body's JSON, or TGI's 400."""
    try:
        return json.loads(body)
    except ValueError as err:
        raise TgiError(400, f"Failed to parse the request body as JSON: {err}", "") from None


def shaped(raw: Any, model: type[RequestModel]) -> RequestModel:
    """Decoded JSON as `model`, or the 422 TGI's and TEI's extractors answer."""
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise TgiError(
            422,
            f"Failed to deserialize the JSON body into the target type: {where}: {first['msg']}",
            "",
        ) from None


def decode_body(body: bytes, model: type[RequestModel]) -> RequestModel:
    """JSON body into `model`, failing like the TGI and TEI routers (400 bad JSON, 422 shape)."""
    return shaped(decode_json(body), model)


def validate(request: GenerateRequest, engine: Engine, limits: Limits) -> ValidRequest:
    """TGI's checks in TGI's order; raises `TgiError` (422) with TGI's wording."""
    params = request.parameters
    best_of = params.best_of or 1
    sampling = (
        params.do_sample
        or params.temperature is not None
        or params.top_k is not None
        or params.top_p is not None
        or params.typical_p is not None
    )
    if best_of > 1 and not sampling:
        raise validation_error("you must use sampling when `best_of` is > 1")
    if best_of > MAX_BEST_OF or best_of < 1:
        raise validation_error(f"`best_of` must be > 0 and <= {MAX_BEST_OF}. Given: {best_of}")
    if best_of > 1 and request.stream:
        raise validation_error("`best_of` != 1 is not supported when streaming tokens")
    temperature = 1.0 if params.temperature is None else params.temperature
    if temperature <= 0:
        raise validation_error("`temperature` must be strictly positive")
    repetition_penalty = 1.0 if params.repetition_penalty is None else params.repetition_penalty
    if repetition_penalty <= 0:
        raise validation_error("`repetition_penalty` must be strictly positive")
    top_p = 1.0 if params.top_p is None else params.top_p
    if params.top_p is not None and not 0 < params.top_p < 1:
        raise validation_error("`top_p` must be > 0.0 and < 1.0")
    typical_p = 1.0 if params.typical_p is None else params.typical_p
    if params.typical_p is not None and not 0 < params.typical_p < 1:
        raise validation_error("`typical_p` must be > 0.0 and < 1.0")
    if params.top_k is not None and params.top_k <= 0:
        raise validation_error("`top_k` must be strictly positive")
    if params.max_new_tokens is not None and params.max_new_tokens <= 0:
        raise validation_error("`max_new_tokens` must be strictly positive")
    if len(params.stop) > MAX_STOP_SEQUENCES:
        raise validation_error(
            f"`stop` supports up to {MAX_STOP_SEQUENCES} stop sequences. Given: {len(params.stop)}"
        )
    if not request.inputs:
        raise validation_error("`inputs` cannot be empty")
    truncate = params.truncate
    if truncate is not None and not 0 < truncate <= limits.max_input_tokens:
        raise validation_error(
            f"`truncate` must be strictly positive and less than {limits.max_input_tokens}. "
            f"Given: {truncate}"
        )

    json_schema = _grammar_schema(params.grammar)
    input_ids = engine.tokenize(request.inputs)
    if truncate is not None:
        # TGI keeps the end of the prompt, where the question usually is.
        input_ids = input_ids[-truncate:]
    input_length = len(input_ids)
    max_new_tokens = params.max_new_tokens
    if max_new_tokens is None:
        max_new_tokens = min(
            max(limits.max_total_tokens - input_length, 0), DEFAULT_GENERATION_LENGTH
        )
    if input_length + max_new_tokens > limits.max_total_tokens:
        raise validation_error(
            f"`inputs` tokens + `max_new_tokens` must be <= {limits.max_total_tokens}. "
            f"Given: {input_length} `inputs` tokens and {max_new_tokens} `max_new_tokens`"
        )
    if input_length > limits.max_input_tokens:
        raise validation_error(
            f"`inputs` must have less than {limits.max_input_tokens} tokens. Given: {input_length}"
        )

    # TGI samples when asked to or when any warper changes the distribution; else greedy.
    warped = temperature != 1.0 or params.top_k is not None or top_p < 1.0 or typical_p < 1.0
    if params.do_sample or warped:
        seed = params.seed if params.seed is not None else draw_seed()
        chosen = Sampling(
            temperature=temperature,
            top_p=top_p,
            top_k=params.top_k or 0,
            typical_p=typical_p,
            repetition_penalty=repetition_penalty,
            seed=seed,
            json_schema=json_schema,
        )
    else:
        chosen = Sampling(
            temperature=0.0, repetition_penalty=repetition_penalty, json_schema=json_schema
        )
    return ValidRequest(request, input_ids, max_new_tokens, chosen)


def _grammar_schema(grammar: Grammar | None) -> str | None:
    """The JSON schema (as text) of a grammar llama.cpp can follow, or TGI's 422."""
    if grammar is None:
        return None
    if grammar.type == "regex":
        raise validation_error("regex grammars are not served locally; use a JSON schema")
    schema = grammar.json_schema()
    problem = check_json_schema(schema)
    if problem:
        raise validation_error(f"grammar is not a valid JSON schema: {problem}")
    return json.dumps(schema)


def generate(
    engine: Engine,
    valid: ValidRequest,
    state: Generation,
    cancel: threading.Event | None = None,
) -> Iterator[GeneratedToken]:
    """Run the engine with TGI's stopping rules, recording each token into `state`."""
    stops = valid.parameters.stop
    longest_stop = max((len(stop) for stop in stops), default=0)
    for token in engine.generate(valid.input_ids, valid.sampling, cancel):
        state.tokens.append(token)
        if not token.special:
            state.text += token.text
        if token.eog:
            state.finish_reason = "eos_token"
        elif stops and any(
            stop in state.text[-(longest_stop + len(token.text)) :] for stop in stops
        ):
            state.finish_reason = "stop_sequence"
        elif len(state.tokens) >= valid.max_new_tokens:
            state.finish_reason = "length"
        yield token
        if state.finish_reason is not None:
            return
    # The context filled up (or the caller cancelled) before any TGI stopping rule fired.
    state.finish_reason = state.finish_reason or "length"


def output_text(valid: ValidRequest, state: Generation) -> str:
    if valid.parameters.return_full_text:
        return valid.request.inputs + state.text
    return state.text


def _token_json(token: GeneratedToken) -> dict[str, Any]:
    return {"id": token.id, "text": token.text, "logprob": token.logprob, "special": token.special}


def response_body(valid: ValidRequest, state: Generation) -> list[dict[str, Any]]:
    """The non-streamed answer: a one-element list, as TGI's SageMaker route returns."""
    answer: dict[str, Any] = {"generated_text": output_text(valid, state)}
    if valid.parameters.details:
        answer["details"] = {
            "finish_reason": state.finish_reason,
            "generated_tokens": len(state.tokens),
            "seed": valid.sampling.seed,
            "prefill": [],
            "tokens": [_token_json(token) for token in state.tokens],
        }
    return [answer]


def sse_event(payload: dict[str, Any]) -> bytes:
    """One server-sent event as TGI writes it."""
    return b"data:" + json.dumps(payload, separators=(",", ":")).encode("utf-8") + b"\n\n"


def stream_event(valid: ValidRequest, token: GeneratedToken, state: Generation) -> bytes:
    """The event for one token; the last one carries the full text and optional details."""
    last = state.finish_reason is not None
    details = None
    if last and valid.parameters.details:
        details = {
            "finish_reason": state.finish_reason,
            "generated_tokens": len(state.tokens),
            "seed": valid.sampling.seed,
            "input_length": len(valid.input_ids),
        }
    return sse_event(
        {
            "index": len(state.tokens),
            "token": _token_json(token),
            "generated_text": output_text(valid, state) if last else None,
            "details": details,
        }
    )


class ChatRequest(BaseModel):
    """What TGI's SageMaker route takes as a chat completion (`messages`); extras ignored."""

    model_config = ConfigDict(extra="ignore")

    messages: list[dict[str, str]]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] = []
    seed: int | None = None
    stream: bool = False
    stream_options: dict[str, bool] | None = None
    response_format: Grammar | None = None


def chat_as_generate(chat: ChatRequest, engine: Engine) -> GenerateRequest:
    """TGI's chat route: the model's chat template, then its generate path; 0 is greedy."""
    sampled = chat.temperature is not None and chat.temperature > 0
    parameters = Parameters(
        max_new_tokens=chat.max_tokens,
        temperature=chat.temperature if sampled else None,
        do_sample=sampled,
        top_p=chat.top_p if sampled else None,
        stop=chat.stop,
        seed=chat.seed,
        details=True,
        grammar=chat.response_format,
    )
    prompt = engine.format_chat(chat.messages)
    return GenerateRequest(inputs=prompt, parameters=parameters, stream=chat.stream)


def chat_finish_reason(state: Generation) -> str | None:
    """TGI's chat route names end of sequence `stop` but keeps `stop_sequence` and `length`."""
    return "stop" if state.finish_reason == "eos_token" else state.finish_reason


def chat_usage(valid: ValidRequest, state: Generation) -> dict[str, int]:
    prompt = len(valid.input_ids)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": len(state.tokens),
        "total_tokens": prompt + len(state.tokens),
    }


def chat_response_body(valid: ValidRequest, state: Generation, model: str) -> dict[str, Any]:
    """A chat.completion; the stop string TGI matched stays in the text."""
    return {
        "object": "chat.completion",
        "id": "",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": state.text},
                "logprobs": None,
                "finish_reason": chat_finish_reason(state),
            }
        ],
        "usage": chat_usage(valid, state),
    }


def chat_stream_event(token: GeneratedToken, state: Generation, model: str) -> bytes:
    """A chat.completion.chunk as TGI writes it: the role in every delta, `data:` unspaced."""
    last = state.finish_reason is not None
    chunk = {
        "object": "chat.completion.chunk",
        "id": "",
        "model": model,
        "choices": [
            {
                "index": 0,
                "delta": {"role": "assistant", "content": "" if token.special else token.text},
                "logprobs": None,
                "finish_reason": chat_finish_reason(state) if last else None,
            }
        ],
        "usage": None,
    }
    return sse_event(chunk)


def chat_stream_end(chat: ChatRequest, valid: ValidRequest, state: Generation, model: str) -> bytes:
    """The usage chunk when asked for, then TGI's `data:[DONE]`."""
    tail = b""
    if chat.stream_options and chat.stream_options.get("include_usage"):
        usage = {"object": "chat.completion.chunk", "id": "", "model": model, "choices": []}
        tail = sse_event(usage | {"usage": chat_usage(valid, state)})
    return tail + b"data:[DONE]\n\n"
