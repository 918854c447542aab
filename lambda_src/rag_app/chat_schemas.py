"""OpenAI's chat completions wire format, as much of it as a RAG answer can honour."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from rag_app.schemas import MAX_K, AuthorId, Source

MAX_MESSAGES = 256
MAX_STOP = 4
# Parameters OpenAI defines that this API cannot honour, and the value that means "unused".
UNSUPPORTED: dict[str, tuple[Any, str]] = {
    "tools": (None, "tool calling is not supported"),
    "tool_choice": (None, "tool calling is not supported"),
    "parallel_tool_calls": (None, "tool calling is not supported"),
    "functions": (None, "function calling is not supported"),
    "function_call": (None, "function calling is not supported"),
    "logprobs": (False, "log probabilities are not returned"),
    "top_logprobs": (None, "log probabilities are not returned"),
    "logit_bias": (None, "logit_bias is not supported"),
    "presence_penalty": (
        0,
        "presence_penalty is not supported; the model's repetition penalty is configured",
    ),
    "frequency_penalty": (
        0,
        "frequency_penalty is not supported; the model's repetition penalty is configured",
    ),
    "audio": (None, "audio output is not supported"),
    "prediction": (None, "predicted outputs are not supported"),
    "web_search_options": (None, "web search is not supported"),
    "reasoning_effort": (None, "reasoning_effort is not supported"),
}


# Parameters accepted only at the value that asks for plain text.
TEXT_ONLY: dict[str, Any] = {"response_format": {"type": "text"}, "modalities": ["text"]}


class TextPart(BaseModel):
    """A text content part; images and audio parts are refused by the Literal."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    """One message of the conversation; tool messages and tool calls are not supported."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["system", "developer", "user", "assistant"]
    content: str | list[TextPart]
    name: str | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include_usage: bool = False


class RagOptions(BaseModel):
    """This API's own extension (`extra_body={"rag": {...}}`): what to retrieve."""

    model_config = ConfigDict(extra="forbid", strict=True)

    k: Annotated[int, Field(ge=1, le=MAX_K)] | None = None
    author_id: AuthorId | None = None


class ChatCompletionRequest(BaseModel):
    """POST /v1/chat/completions; unknown fields are refused, as OpenAI does."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    model: Annotated[str, StringConstraints(min_length=1)]
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=MAX_MESSAGES)]
    max_tokens: Annotated[int, Field(ge=1)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    # A string or a list of them, held as a list.
    stop: Annotated[list[str], Field(max_length=MAX_STOP)] | None = None
    seed: int | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: Annotated[int, Field(ge=1, le=1)] = 1
    # Accepted and ignored: they change nothing in how the answer is made.
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    rag: RagOptions | None = None
    # Refused unless unset or at their neutral value (see UNSUPPORTED).
    tools: Any = None
    tool_choice: Any = None
    parallel_tool_calls: Any = None
    functions: Any = None
    function_call: Any = None
    logprobs: Any = False
    top_logprobs: Any = None
    logit_bias: Any = None
    presence_penalty: Any = 0
    frequency_penalty: Any = 0
    response_format: Any = None
    modalities: Any = None
    audio: Any = None
    prediction: Any = None
    web_search_options: Any = None
    reasoning_effort: Any = None

    @field_validator(*UNSUPPORTED)
    @classmethod
    def _unsupported(cls, value: Any, info: Any) -> Any:
        neutral, reason = UNSUPPORTED[info.field_name]
        if value is not None and value != neutral and value not in ({}, []):
            raise ValueError(reason)
        return value

    @field_validator(*TEXT_ONLY)
    @classmethod
    def _text_only(cls, value: Any, info: Any) -> Any:
        allowed = TEXT_ONLY[info.field_name]
        if value is not None and value != allowed:
            raise ValueError(f"only {allowed!r} is supported")
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

    @property
    def stop_sequences(self) -> tuple[str, ...]:
        return tuple(self.stop or ())

    @property
    def include_usage(self) -> bool:
        return self.stream_options is not None and self.stream_options.include_usage


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


class ChatCompletion(BaseModel):
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
