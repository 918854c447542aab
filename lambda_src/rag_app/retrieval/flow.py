"""Retrieval for one question, composed from its steps: options resolved, searched, ranked."""

from __future__ import annotations

from dataclasses import dataclass, field

from rag_app.errors import InvalidRequest
from rag_app.retrieval.filters import NO_FILTER, SearchFilter
from rag_app.retrieval.steps import SearchPlan, SearchSteps
from rag_app.retrieval.timings import StepTimings
from rag_app.schemas import RetrievalOptions
from rag_app.services.retriever import Chunk
from rag_app.settings import Settings


@dataclass(frozen=True)
class AuthorChoice:
    """The author self-query read from the question, and whether the search used it."""

    name: str
    author_id: str | None
    filtered: bool


@dataclass(frozen=True)
class RetrievalChoices:
    """A request's options with the config's values filled in, checked before any call."""

    question: str
    k: int
    phrasings: int
    self_query: bool
    fusion: str
    rerank: bool
    caller_filter: SearchFilter
    report: bool
    retrieve_only: bool


@dataclass
class Retrieved:
    """The ranked chunks (up to k) and what the retrieval chose on the way."""

    chunks: list[Chunk]
    phrasings: list[str]
    author: AuthorChoice | None = None
    fallbacks: list[str] = field(default_factory=list)


class RetrievalFlow:
    """Turns a question and its options into the k best chunks."""

    def __init__(self, settings: Settings, steps: SearchSteps) -> None:
        self.settings = settings
        self.steps = steps

    def choices(self, question: str, options: RetrievalOptions) -> RetrievalChoices:
        """The options resolved against the config, or InvalidRequest naming the option."""
        settings = self.settings
        has_reranker = self.steps.reranker is not None
        if options.rerank and not has_reranker:
            raise InvalidRequest(
                "rerank is true but this deployment has no reranker.", param="rerank"
            )
        return RetrievalChoices(
            question=question,
            k=options.k or settings.top_k,
            phrasings=options.query_expansion or settings.query_expansion,
            self_query=settings.self_query if options.self_query is None else options.self_query,
            fusion=options.fusion or settings.fusion,
            rerank=has_reranker if options.rerank is None else options.rerank,
            caller_filter=SearchFilter(author_id=options.author_id)
            if options.author_id
            else NO_FILTER,
            report=options.return_retrieved or options.retrieve_only,
            retrieve_only=options.retrieve_only,
        )

    async def retrieve(self, choices: RetrievalChoices, timings: StepTimings) -> Retrieved:
        """Search every phrasing under the filter, fuse, rerank, cut to k."""
        plan = SearchPlan(
            question=choices.question,
            phrasings=[choices.question],
            k=choices.k,
            fusion=choices.fusion,
            rerank=choices.rerank,
        )
        vectors = await self.steps.embed(plan, timings)
        rankings = await self.steps.search(vectors, choices.caller_filter, plan, timings)
        chunks = await self.steps.rank(rankings, plan, timings)
        return Retrieved(chunks, plan.phrasings)
