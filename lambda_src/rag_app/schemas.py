"""Request and response bodies of the public API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from rag_app.limits import MAX_K, MAX_QUERY_CHARS

# Generous next to the largest valid request (a 2000-character query escaped as \uXXXX).
MAX_BODY_BYTES = 32 * 1024
# A chat request carries the conversation so far; the input budget trims it further.
MAX_CHAT_BODY_BYTES = 512 * 1024


# pydantic also rejects lone surrogates (\ud800), which no UTF-8 upstream could carry.
Query = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)
]
AuthorId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]


class RagRequest(BaseModel):
    """A question for the LLM Twin, with optional retrieval and generation overrides."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    query: Query = Field(description="The question or instruction.")
    k: Annotated[int, Field(ge=1, le=MAX_K)] | None = Field(
        default=None, description="How many context chunks to retrieve (default: RAG_TOP_K)."
    )
    author_id: AuthorId | None = Field(
        default=None, description="Only use context written by this author (payload author_id)."
    )
    max_new_tokens: Annotated[int, Field(ge=1, le=4096)] | None = Field(
        default=None, description="Upper bound on generated tokens, at most RAG_MAX_NEW_TOKENS."
    )
    temperature: Annotated[float, Field(gt=0, le=2)] | None = Field(
        default=None, description="Sampling temperature (default: RAG_TEMPERATURE)."
    )


class Source(BaseModel):
    """One retrieved chunk that went into the prompt."""

    collection: str
    point_id: str
    score: float
    platform: str | None = None
    link: str | None = None
    author_id: str | None = None
    author_full_name: str | None = None


class RagResponse(BaseModel):
    """The LLM Twin's answer and the context it was given."""

    answer: str
    sources: list[Source]


class HealthResponse(BaseModel):
    """Liveness of the app itself; upstreams are not checked."""

    status: Literal["ok"] = "ok"
    model_id: str


class ErrorDetail(BaseModel):
    """What went wrong, safe to show a caller."""

    code: str
    message: str
    request_id: str


class ErrorResponse(BaseModel):
    """Body of every error response."""

    error: ErrorDetail
