"""POST /rag: answer a query with retrieved context."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rag_app.api.deps import PipelineDep, RequestIdDep
from rag_app.schemas import ErrorResponse, RagRequest, RagResponse, Source
from rag_app.services.retriever import Chunk

router = APIRouter(tags=["rag"])

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        413: "Request body too large",
        422: "Invalid request",
        502: "An upstream failed or answered garbage",
        503: "The model has no capacity yet or is throttled (see Retry-After)",
        504: "An upstream or the whole request ran out of time",
    }.items()
}


@router.post("/rag", responses=ERROR_RESPONSES)
async def rag(body: RagRequest, pipeline: PipelineDep, request_id: RequestIdDep) -> RagResponse:
    """Retrieve context for the query and let the LLM Twin answer it."""
    result = await pipeline.answer(body, request_id)
    return RagResponse(answer=result.answer, sources=[to_source(chunk) for chunk in result.sources])


def to_source(chunk: Chunk) -> Source:
    """The public view of a chunk: where it came from, not its text."""
    return Source(
        collection=chunk.collection,
        point_id=chunk.point_id,
        score=chunk.score,
        platform=_text(chunk.payload.get("platform")),
        link=_text(chunk.payload.get("link")),
        author_id=_text(chunk.payload.get("author_id")),
        author_full_name=_text(chunk.payload.get("author_full_name")),
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
