"""The errors the app answers with: each has an HTTP status, a stable code and a public message."""

from __future__ import annotations

from typing import ClassVar


class RagError(Exception):
    """A failure with a safe public message; `detail` is internal and only logged."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    retry_after_s: ClassVar[int | None] = None
    # The code on the OpenAI-compatible routes, where it differs from `code`.
    openai_code: ClassVar[str | None] = None

    def __init__(self, message: str, *, detail: str = "", param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        # The request field at fault, for OpenAI-style errors.
        self.param = param


class InvalidRequest(RagError):
    """The request does not fit the API's bounds."""

    status = 422
    code = "invalid_request"
    openai_code = "invalid_value"


class ContextLengthExceeded(InvalidRequest):
    """The messages alone need more tokens than the model accepts."""

    openai_code = "context_length_exceeded"

    def __init__(self, max_tokens: int, needed: int) -> None:
        # OpenAI's wording, which LiteLLM and pydantic-ai recognise an overflow by; LangChain
        # looks for the code in the exception text, which the openai SDK makes the message.
        super().__init__(
            f"This model's maximum context length is {max_tokens} tokens. However, your "
            f"messages resulted in {needed} tokens. Please reduce the length of the messages "
            f"({self.openai_code}).",
            param="messages",
        )


class ModelNotFound(RagError):
    """A chat request named a model this API does not serve."""

    status = 404
    code = "model_not_found"


class PayloadTooLarge(RagError):
    """The request body is over the size limit."""

    status = 413
    code = "payload_too_large"


class ModelNotReady(RagError):
    """A model component has no copy to serve yet (e.g. scaling up from zero)."""

    status = 503
    code = "model_not_ready"
    # Bringing up a GPU copy from zero takes minutes.
    retry_after_s = 60


class ModelBusy(RagError):
    """A model component is throttled or briefly unavailable."""

    status = 503
    code = "model_busy"
    retry_after_s = 5


class UpstreamFailed(RagError):
    """An upstream (model component, vector store) failed or answered garbage."""

    status = 502
    code = "upstream_error"


class UpstreamTimedOut(RagError):
    """An upstream did not answer within its timeout."""

    status = 504
    code = "upstream_timeout"


class DeadlineExceeded(RagError):
    """The request ran out of its overall time budget."""

    status = 504
    code = "deadline_exceeded"
