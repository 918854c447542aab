"""Reordering retrieved chunks with the TEI reranker component."""

from __future__ import annotations

import math
from typing import Any

from rag_app.errors import UpstreamFailed
from rag_app.services.retriever import Chunk
from rag_app.services.sagemaker_runtime import SageMakerRuntime

ROLE = "reranker"
# TEI's default --max-client-batch-size: a larger batch is refused (413).
MAX_TEXTS = 32


class Reranker:
    """Scores chunks against the query through TEI's {"query", "texts"} contract."""

    def __init__(self, runtime: SageMakerRuntime, component: str) -> None:
        self.runtime = runtime
        self.component = component

    async def rerank(self, query: str, chunks: list[Chunk]) -> list[Chunk]:
        """The best-ranked chunks (up to MAX_TEXTS) rescored by the reranker, best first."""
        chunks = chunks[:MAX_TEXTS]
        if not chunks:
            return []
        # TEI's SageMaker route picks embed or rerank from the model it serves. With truncate,
        # it scores the start of an over-long chunk instead of refusing the call (413).
        texts = [chunk.content for chunk in chunks]
        answer = await self.runtime.invoke(
            self.component, {"query": query, "texts": texts, "truncate": True}, role=ROLE
        )
        scores = parse_rerank_scores(answer, len(chunks))
        rescored = [chunks[index].rescored(score) for index, score in scores.items()]
        return sorted(rescored, key=lambda chunk: chunk.score, reverse=True)


def parse_rerank_scores(answer: Any, text_count: int) -> dict[int, float]:
    """Score by text index from [{"index", "score"}, ...], or UpstreamFailed."""
    scores: dict[int, float] = {}
    for item in answer if isinstance(answer, list) else [None]:
        index = item.get("index") if isinstance(item, dict) else None
        score = item.get("score") if isinstance(item, dict) else None
        if (
            not isinstance(index, int)
            or isinstance(index, bool)
            or not 0 <= index < text_count
            or index in scores
            or not isinstance(score, (int, float))
            or isinstance(score, bool)
            or not math.isfinite(score)
        ):
            raise UpstreamFailed(
                f"The {ROLE} returned an unexpected response.", detail=repr(answer)[:200]
            )
        scores[index] = float(score)
    return scores
