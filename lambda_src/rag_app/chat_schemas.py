"""OpenAI's chat completions wire format, as much of it as a RAG answer can honour.

FIELDS is the one list of what this API does with each request field OpenAI defines; the
README's field table is written from it and tests walk it field by field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StringConstraints,
    field_validator,
    model_validator,
)

from rag_app.schemas import RetrievalOptions, RetrievalReport, Source

MAX_MESSAGES = 256
# OpenAI's own limit on stop sequences.
MAX_STOP = 4

Handling = Literal["honoured", "ignored", "neutral only"]


@dataclass(frozen=True)
class FieldRule:
    """What the API does with one request field; `neutral`: the values that mean "unused"."""

    handling: Handling
    reason: str = ""
    neutral: tuple[Any, ...] = ()


# Every top-level request field of OpenAI's chat completions API (plus `rag`, this API's own).
FIELDS: dict[str, FieldRule] = {
    "model": FieldRule("honoured", "must name the served model (GET /v1/models)"),
    "messages": FieldRule("honoured", "the last user message is the question; text only"),
    "max_tokens": FieldRule("honoured", "at most the configured max_new_tokens"),
    "max_completion_tokens": FieldRule("honoured", "as max_tokens"),
    "temperature": FieldRule("honoured"),
    "top_p": FieldRule("honoured"),
    "stop": FieldRule("honoured", "up to 4 strings"),
    "seed": FieldRule("honoured"),
    "stream": FieldRule("honoured"),
    "stream_options": FieldRule("honoured", "include_usage; include_obfuscation is ignored"),
    "response_format": FieldRule("honoured", "text, json_object, json_schema (strict or not)"),
    "n": FieldRule("neutral only", "one choice per request", (None, 1)),
    "user": FieldRule("ignored", "an end-user id for abuse monitoring"),
    "safety_identifier": FieldRule("ignored", "an end-user id for abuse monitoring"),
    "prompt_cache_key": FieldRule("ignored", "the engine caches prompt prefixes by itself"),
    "prompt_cache_retention": FieldRule("ignored", "the engine caches prompt prefixes by itself"),
    "metadata": FieldRule("ignored", "stored completions are not kept"),
    "store": FieldRule("ignored", "stored completions are not kept"),
    "service_tier": FieldRule("ignored", "one tier"),
    "verbosity": FieldRule("neutral only", "answer length is set by max_tokens", (None, "medium")),
    "tools": FieldRule("neutral only", "tool calling is not supported", (None, [])),
    "tool_choice": FieldRule("neutral only", "tool calling is not supported", (None, "none")),
    # Meaningless without tools, so any value is harmless.
    "parallel_tool_calls": FieldRule("ignored", "tool calling is not supported"),
    "functions": FieldRule("neutral only", "function calling is not supported", (None, [])),
    "function_call": FieldRule("neutral only", "function calling is not supported", (None, "none")),
    "logprobs": FieldRule("neutral only", "log probabilities are not returned", (None, False)),
    "top_logprobs": FieldRule("neutral only", "log probabilities are not returned", (None, 0)),
    "logit_bias": FieldRule("neutral only", "logit_bias is not supported", (None, {})),
    "presence_penalty": FieldRule(
        "neutral only", "the model's repetition penalty is configured instead", (None, 0)
    ),
    "frequency_penalty": FieldRule(
        "neutral only", "the model's repetition penalty is configured instead", (None, 0)
    ),
    "modalities": FieldRule("neutral only", "text output only", (None, ["text"])),
    "audio": FieldRule("neutral only", "audio output is not supported", (None,)),
    "prediction": FieldRule("neutral only", "predicted outputs are not supported", (None,)),
    "web_search_options": FieldRule("neutral only", "web search is not supported", (None,)),
    "reasoning_effort": FieldRule("neutral only", "the model does not reason first", (None,)),
    "rag": FieldRule("honoured", "this API's extension: what to retrieve"),
}
NEUTRAL_ONLY = tuple(name for name, rule in FIELDS.items() if rule.handling == "neutral only")


def is_neutral(value: Any, neutral: tuple[Any, ...]) -> bool:
    """Whether `value` is one of the neutral values (0 and 0.0 alike; false is not 0)."""
    for candidate in neutral:
        if value is None or candidate is None:
            if value is candidate:
                return True
        elif isinstance(value, bool) == isinstance(candidate, bool) and value == candidate:
            return True
    return False


class TextPart(BaseModel):
    """A text content part (refusal parts of assistant history count as text)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "refusal"]
    text: str = ""
    refusal: str = ""

    @property
    def value(self) -> str:
        return self.text if self.type == "text" else self.refusal


def _content(value: Any) -> str | list[TextPart] | None:
    """A message's content: a string, text parts, or null; one plain error otherwise."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, list):
        raise ValueError("content must be a string or a list of text parts")
    parts = []
    for index, part in enumerate(value):
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in ("text", "refusal"):
            raise ValueError(f"part {index} is {kind!r}: only text content parts are supported")
        parts.append(TextPart.model_validate(part))
    return parts


class ChatMessage(BaseModel):
    """One message; an assistant message written back as the SDK dumped it is accepted.

    Tool messages and tool calls are refused: this API never makes a tool call.
    """

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    content: Any = None
    name: str | None = None
    # Fields of an assistant message as the SDK returns it; null (or empty) when unused.
    refusal: str | None = None
    tool_calls: list[Any] | None = None
    function_call: None = None
    audio: None = None
    annotations: list[Any] | None = None

    @field_validator("content", mode="before")
    @classmethod
    def _text_content(cls, value: Any) -> Any:
        return _content(value)

    @field_validator("tool_calls")
    @classmethod
    def _no_tool_calls(cls, value: list[Any] | None) -> list[Any] | None:
        if value:
            raise ValueError("tool calls are not supported")
        return value

    @model_validator(mode="after")
    def _content_where_needed(self) -> ChatMessage:
        if self.content is None and self.role != "assistant":
            raise ValueError(f"a {self.role} message needs content")
        return self

    @property
    def text(self) -> str:
        if self.content is None:
            return self.refusal or ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.value for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: StrictBool = False
    # Padding that hides token lengths on the wire; nothing to hide from here.
    include_obfuscation: StrictBool = True


class JsonSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: str | None = None
    # `schema` is a BaseModel attribute: held under another name.
    json_schema: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: StrictBool | None = None


class ResponseFormat(BaseModel):
    """`response_format`: plain text, any JSON object, or JSON that fits a schema."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchema | None = None

    @model_validator(mode="after")
    def _schema_with_its_type(self) -> ResponseFormat:
        if (self.type == "json_schema") != (self.json_schema is not None):
            raise ValueError("json_schema is given with, and only with, type json_schema")
        return self

    def output_schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer must fit; any object for json_object; None for text."""
        if self.type == "text":
            return None
        if self.json_schema is None:
            return {"type": "object"}
        return self.json_schema.json_schema or {"type": "object"}


class RagOptions(RetrievalOptions):
    """This API's own extension (`extra_body={"rag": {...}}`): what to retrieve, as /rag."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ChatCompletionRequest(BaseModel):
    """POST /v1/chat/completions; unknown fields are refused, as OpenAI does."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: Annotated[str, StringConstraints(min_length=1)]
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_MESSAGES)]
    max_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[StrictInt, Field(ge=1)] | None = None
    temperature: Annotated[StrictFloat, Field(ge=0, le=2)] | None = None
    top_p: Annotated[StrictFloat, Field(gt=0, le=1)] | None = None
    # A string or a list of them, held as a list.
    stop: Annotated[list[str], Field(max_length=MAX_STOP)] | None = None
    seed: StrictInt | None = None
    stream: StrictBool | None = False
    stream_options: StreamOptions | None = None
    response_format: ResponseFormat | None = None
    rag: RagOptions | None = None
    # Accepted and ignored (see FIELDS).
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    parallel_tool_calls: bool | None = None
    # Refused unless unset or at a neutral value (see FIELDS).
    n: Any = None
    verbosity: Any = None
    tools: Any = None
    tool_choice: Any = None
    functions: Any = None
    function_call: Any = None
    logprobs: Any = None
    top_logprobs: Any = None
    logit_bias: Any = None
    presence_penalty: Any = None
    frequency_penalty: Any = None
    modalities: Any = None
    audio: Any = None
    prediction: Any = None
    web_search_options: Any = None
    reasoning_effort: Any = None

    @field_validator(*NEUTRAL_ONLY)
    @classmethod
    def _neutral_only(cls, value: Any, info: Any) -> Any:
        rule = FIELDS[info.field_name]
        if not is_neutral(value, rule.neutral):
            raise ValueError(f"{rule.reason}; only the neutral value is accepted")
        return value

    @field_validator("stop", mode="before")
    @classmethod
    def _one_stop_is_a_list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("stop")
    @classmethod
    def _non_empty_stops(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not all(value):
            raise ValueError("stop sequences must not be empty")
        return value

    @field_validator("messages")
    @classmethod
    def _ends_with_a_question(cls, messages: list[ChatMessage]) -> list[ChatMessage]:
        last = messages[-1]
        if last.role != "user":
            raise ValueError("the last message must come from the user")
        if not last.text.strip():
            raise ValueError("the last user message is empty")
        return messages

    @field_validator("stream_options")
    @classmethod
    def _stream_options_need_a_stream(cls, value: Any, info: Any) -> Any:
        if value is not None and not info.data.get("stream"):
            raise ValueError("stream_options is only allowed when stream is true")
        return value

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        return tuple(self.stop or ())

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage

    @property
    def output_schema(self) -> dict[str, Any] | None:
        """The JSON schema the answer must fit, or None for free text."""
        if self.response_format is None:
            return None
        return self.response_format.output_schema()


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] | None
    logprobs: None = None


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(RetrievalReport):
    """The non-streamed answer; `sources` is this API's extra field (clients ignore it)."""

    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    sources: list[Source] = Field(description="The retrieved chunks the answer was given.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class OpenAiError(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None
    request_id: str


class OpenAiErrorResponse(BaseModel):
    """Every error of the /v1 routes, in OpenAI's shape (plus the request id)."""

    error: OpenAiError
