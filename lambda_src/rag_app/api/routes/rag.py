"""POST /rag: answer a query with retrieved context."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rag_app.api.deps import PipelineDep, RequestIdDep
from rag_app.api.error_handlers import error_responses
from rag_app.schemas import ErrorResponse, RagRequest, RagResponse, Source
from rag_app.services.retriever import Chunk

router = APIRouter(tags=["rag"])


@router.post("/rag", responses=error_responses(ErrorResponse))
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
