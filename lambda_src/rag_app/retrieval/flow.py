"""Retrieval for one question, composed from its steps: options resolved, searched, ranked."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from time import monotonic

from rag_app.errors import InvalidRequest, RagError
from rag_app.log import logger
from rag_app.retrieval import expansion, self_query
from rag_app.retrieval.filters import NO_FILTER, SearchFilter
from rag_app.retrieval.helper import HelperLlm
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


# Authors rarely change; one facet count per collection every few minutes is plenty.
AUTHORS_TTL_S = 300.0
# Distinct author names read per collection.
MAX_AUTHORS = 1000


class HelperFailed(Exception):
    """A helper step could not help; the retrieval goes on without it (see `fallback`)."""

    def __init__(self, fallback: str) -> None:
        super().__init__(fallback)
        self.fallback = fallback


class RetrievalFlow:
    """Turns a question and its options into the k best chunks."""

    def __init__(self, settings: Settings, steps: SearchSteps, helper: HelperLlm) -> None:
        self.settings = settings
        self.steps = steps
        self.helper = helper
        self._authors: tuple[float, list[str]] | None = None

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
        """Rewrite and read the question (concurrently), search every phrasing under the
        filter, fuse, rerank against the question, cut to k."""
        fallbacks: list[str] = []
        phrasings, author = await asyncio.gather(
            self._phrasings(choices, timings, fallbacks),
            self._author(choices, timings, fallbacks),
        )
        plan = SearchPlan(
            question=choices.question,
            phrasings=phrasings,
            k=choices.k,
            fusion=choices.fusion,
            rerank=choices.rerank,
        )
        search_filter = choices.caller_filter
        if author is not None and author.filtered:
            search_filter = SearchFilter(author_full_name=author.name)
        vectors = await self.steps.embed(plan, timings)
        rankings = await self.steps.search(vectors, search_filter, plan, timings)
        if author is not None and author.filtered:
            if not any(rankings):
                # No point of that author's (the store changed since the names were read).
                fallbacks.append("self_query_no_hits")
                author = AuthorChoice(author.name, None, filtered=False)
                rankings = await self.steps.search(vectors, NO_FILTER, plan, timings)
            else:
                author = AuthorChoice(author.name, _author_id(rankings), filtered=True)
        chunks = await self.steps.rank(rankings, plan, timings)
        return Retrieved(chunks, phrasings, author, fallbacks)

    async def _phrasings(
        self, choices: RetrievalChoices, timings: StepTimings, fallbacks: list[str]
    ) -> list[str]:
        """The question, then up to choices.phrasings - 1 rewrites by the helper."""
        question = choices.question
        wanted = choices.phrasings - 1
        if wanted < 1:
            return [question]
        template = self.settings.query_expansion_prompt or expansion.DEFAULT_PROMPT
        try:
            with timings.measure("expand"):
                text = await self._ask(
                    "expand",
                    expansion.expansion_prompt(template, question, wanted),
                    expansion.TOKENS_PER_REWRITE * wanted,
                )
        except HelperFailed as failed:
            fallbacks.append(failed.fallback)
            return [question]
        rewrites = expansion.parse_rewrites(text, question, wanted)
        if not rewrites:
            fallbacks.append("expand_empty")
        return [question, *rewrites]

    async def _author(
        self, choices: RetrievalChoices, timings: StepTimings, fallbacks: list[str]
    ) -> AuthorChoice | None:
        """The author the question names, matched to the store's authors, if self-query runs.

        A caller's author_id wins: self-query does not run then.
        """
        if not choices.self_query or not choices.caller_filter.empty:
            return None
        question = choices.question
        template = self.settings.self_query_prompt or self_query.DEFAULT_PROMPT
        try:
            with timings.measure("self_query"):
                text, known = await asyncio.gather(
                    self._ask(
                        "self_query",
                        self_query.self_query_prompt(template, question),
                        self_query.AUTHOR_TOKENS,
                    ),
                    self._known_authors(),
                )
        except HelperFailed as failed:
            fallbacks.append(failed.fallback)
            return None
        name = self_query.parse_name(text)
        if name is None:
            return None
        matched = self_query.match_author(name, known)
        if matched is None:
            fallbacks.append("self_query_unknown_author")
            return AuthorChoice(name, None, filtered=False)
        if not self_query.named_in(matched, question):
            fallbacks.append("self_query_not_in_question")
            return AuthorChoice(matched, None, filtered=False)
        return AuthorChoice(matched, None, filtered=True)

    async def _ask(self, step: str, prompt: str, max_new_tokens: int) -> str:
        """The helper's reply within its time budget, or HelperFailed naming why not."""
        try:
            async with asyncio.timeout(self.settings.helper_timeout_s):
                return await self.helper.ask(prompt, max_new_tokens)
        except TimeoutError:
            raise HelperFailed(f"{step}_timeout") from None
        except RagError as err:
            logger.warning("helper call failed", extra={"step": step, "error": err.code})
            raise HelperFailed(f"{step}_failed") from None

    async def _known_authors(self) -> list[str]:
        """The author names in the store, cached for AUTHORS_TTL_S."""
        cached = self._authors
        if cached is not None and monotonic() - cached[0] < AUTHORS_TTL_S:
            return cached[1]
        try:
            names = await self.steps.retriever.author_names(MAX_AUTHORS)
        except RagError as err:
            logger.warning("author names unavailable", extra={"error": err.code})
            raise HelperFailed("self_query_authors_unavailable") from None
        self._authors = (monotonic(), names)
        return names


def _author_id(rankings: list[list[Chunk]]) -> str | None:
    """The payload author_id of the filtered hits (they share one author)."""
    for ranking in rankings:
        for chunk in ranking:
            value = chunk.payload.get("author_id")
            if isinstance(value, str) and value:
                return value
    return None
