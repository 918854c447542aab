"""The retrieval steps after the question is rewritten: embed, search, fuse, rerank, cut."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from rag_app.retrieval.filters import SearchFilter
from rag_app.retrieval.fusion import fuse
from rag_app.retrieval.timings import StepTimings
from rag_app.services.embedder import Embedder
from rag_app.services.reranker import Reranker
from rag_app.services.retriever import Chunk, Retriever


@dataclass(frozen=True)
class SearchPlan:
    """What to search for: the phrasings (the question first), the filter, how much, how."""

    question: str
    phrasings: list[str]
    k: int
    fusion: str
    rerank: bool


class SearchSteps:
    """Each step on its own, timed under its own name by the caller's StepTimings."""

    def __init__(self, embedder: Embedder, retriever: Retriever, reranker: Reranker | None) -> None:
        self.embedder = embedder
        self.retriever = retriever
        self.reranker = reranker

    async def embed(self, plan: SearchPlan, timings: StepTimings) -> list[list[float]]:
        """One vector per phrasing, from one call to the embedding component."""
        with timings.measure("embed"):
            return await self.embedder.embed_many(plan.phrasings)

    async def search(
        self,
        vectors: list[list[float]],
        search_filter: SearchFilter,
        plan: SearchPlan,
        timings: StepTimings,
    ) -> list[list[Chunk]]:
        """One ranking per phrasing, every collection searched, all at once."""
        with timings.measure("search"):
            return list(
                await asyncio.gather(
                    *(self.retriever.retrieve(v, plan.k, search_filter) for v in vectors)
                )
            )

    async def rank(
        self, rankings: list[list[Chunk]], plan: SearchPlan, timings: StepTimings
    ) -> list[Chunk]:
        """The rankings fused, reranked against the question when asked, cut to k."""
        if len(rankings) > 1:
            with timings.measure("fuse"):
                fused = fuse(rankings, plan.fusion)
        else:
            fused = fuse(rankings, plan.fusion)
        if plan.rerank and self.reranker is not None and fused:
            with timings.measure("rerank"):
                fused = await self.reranker.rerank(plan.question, fused)
        return fused[: plan.k]
