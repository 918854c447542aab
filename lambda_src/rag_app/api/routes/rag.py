"""POST /rag: answer a query with retrieved context."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from rag_app.api.deps import PipelineDep, RequestIdDep
from rag_app.api.error_handlers import error_responses
from rag_app.retrieval.flow import Retrieved
from rag_app.schemas import (
    AuthorFound,
    ErrorResponse,
    RagRequest,
    RagResponse,
    RetrievalInfo,
    RetrievedItem,
    Source,
)
from rag_app.services.retriever import Chunk

router = APIRouter(tags=["rag"])


@router.post("/rag", responses=error_responses(ErrorResponse))
async def rag(body: RagRequest, pipeline: PipelineDep, request_id: RequestIdDep) -> RagResponse:
    """Retrieve context for the query and let the LLM Twin answer it."""
    result = await pipeline.answer(body, request_id)
    return RagResponse(
        answer=result.answer,
        sources=[to_source(chunk) for chunk in result.sources],
        **(retrieval_report(result.retrieved, result.latency_ms) if result.report else {}),
    )


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
        document_id=_text(chunk.payload.get("document_id")),
    )


def retrieval_report(retrieved: Retrieved, latency_ms: dict[str, float]) -> dict[str, Any]:
    """The fields return_retrieved adds to a response: ranked list, choices, latencies."""
    author = retrieved.author
    return {
        "retrieved": [
            RetrievedItem(
                collection=chunk.collection,
                point_id=chunk.point_id,
                document_id=_text(chunk.payload.get("document_id")),
                score=chunk.score,
                rank=rank,
            )
            for rank, chunk in enumerate(retrieved.chunks, start=1)
        ],
        "retrieval": RetrievalInfo(
            phrasings=retrieved.phrasings,
            author=AuthorFound(
                name=author.name, author_id=author.author_id, filtered=author.filtered
            )
            if author is not None
            else None,
            fallbacks=retrieved.fallbacks,
        ),
        "latency_ms": latency_ms,
    }


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
