"""Request and response bodies of the public API."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

from rag_app.limits import MAX_K, MAX_PHRASINGS, MAX_QUERY_CHARS

# Generous next to the largest valid request (a 2000-character query escaped as \uXXXX).
MAX_BODY_BYTES = 32 * 1024
# A chat request carries the conversation so far; the input budget trims it further.
MAX_CHAT_BODY_BYTES = 512 * 1024


# pydantic also rejects lone surrogates (\ud800), which no UTF-8 upstream could carry.
Query = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUERY_CHARS)
]
AuthorId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Fusion = Literal["rrf", "max"]


class RetrievalOptions(BaseModel):
    """How one request retrieves; None keeps the config's choice. Shared by /rag and chat."""

    k: Annotated[int, Field(ge=1, le=MAX_K)] | None = Field(
        default=None, description="How many context chunks to retrieve (default: RAG_TOP_K)."
    )
    author_id: AuthorId | None = Field(
        default=None,
        description="Only use context written by this author (payload author_id); "
        "wins over self-query.",
    )
    query_expansion: Annotated[int, Field(ge=1, le=MAX_PHRASINGS)] | None = Field(
        default=None,
        description="Phrasings searched in all, the question included; 1 turns expansion off.",
    )
    self_query: bool | None = Field(
        default=None, description="Filter on an author the question names."
    )
    fusion: Fusion | None = Field(
        default=None,
        description="How the phrasings' rankings merge without a reranker: reciprocal rank "
        "fusion, or each point's best score.",
    )
    rerank: bool | None = Field(
        default=None, description="false skips the configured reranker; true needs one."
    )
    return_retrieved: bool = Field(
        default=False,
        description="Add the ranked retrieved list, the retrieval's choices and step latencies.",
    )
    retrieve_only: bool = Field(
        default=False,
        description="Retrieve and report (as return_retrieved), generate nothing.",
    )


class RagRequest(RetrievalOptions):
    """A question for the LLM Twin, with optional retrieval and generation overrides."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, frozen=True)

    query: Query = Field(description="The question or instruction.")
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
    document_id: str | None = None


class RetrievedItem(BaseModel):
    """One point of the ranked retrieved list, before prompt packing."""

    collection: str
    point_id: str
    document_id: str | None
    score: float
    rank: int


class AuthorFound(BaseModel):
    """The author self-query read from the question, and whether the search was filtered."""

    name: str
    author_id: str | None
    filtered: bool


class RetrievalInfo(BaseModel):
    """What the retrieval chose: the phrasings searched, the author, the steps that fell back."""

    phrasings: list[str]
    author: AuthorFound | None
    fallbacks: list[str]


def _unset(value: Any) -> bool:
    return value is None


class RetrievalReport(BaseModel):
    """Fields a response carries only when the caller asked for them (return_retrieved)."""

    retrieved: list[RetrievedItem] | None = Field(
        default=None,
        exclude_if=_unset,
        description="With return_retrieved: the ranked list after fusion and rerank, up to k.",
    )
    retrieval: RetrievalInfo | None = Field(
        default=None,
        exclude_if=_unset,
        description="With return_retrieved: the phrasings, author and fallbacks.",
    )
    latency_ms: dict[str, float] | None = Field(
        default=None,
        exclude_if=_unset,
        description="With return_retrieved: milliseconds per step that ran.",
    )


class RagResponse(RetrievalReport):
    """The LLM Twin's answer and the context it was given (answer null with retrieve_only)."""

    answer: str | None
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
