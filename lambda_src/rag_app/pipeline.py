"""The RAG steps: retrieve context, build the prompt, generate the answer, under one deadline."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter

from rag_app.errors import DeadlineExceeded, InvalidRequest, RagError
from rag_app.schemas import RagRequest
from rag_app.services.embedder import Embedder
from rag_app.services.generator import Generation, GenerationParams, Generator
from rag_app.services.prompt import Prompt, PromptBuilder
from rag_app.services.reranker import Reranker
from rag_app.services.retriever import Chunk, QdrantStore, Retriever
from rag_app.services.sagemaker_runtime import SageMakerRuntime
from rag_app.services.trace import PromptTrace, RetrievedRef, TraceEmitter, create_trace_emitter
from rag_app.settings import Settings


@dataclass(frozen=True)
class RagAnswer:
    """The answer, the chunks the prompt held, and per-step latencies in ms."""

    answer: str
    sources: list[Chunk]
    latency_ms: dict[str, float]


@contextmanager
def timed(latency_ms: dict[str, float], step: str) -> Iterator[None]:
    """Record how long the block took under `step`, even if it fails."""
    start = perf_counter()
    try:
        yield
    finally:
        latency_ms[step] = round((perf_counter() - start) * 1000, 3)


class RagPipeline:
    """Everything one /rag request needs, built once per container."""

    def __init__(
        self,
        settings: Settings,
        *,
        runtime: SageMakerRuntime,
        store: QdrantStore,
        tracer: TraceEmitter,
    ) -> None:
        self.settings = settings
        self.runtime = runtime
        self.store = store
        self.tracer = tracer
        self.embedder = Embedder(runtime, settings.embedding_component)
        self.retriever = Retriever(store, settings.collections)
        self.reranker = (
            Reranker(runtime, settings.reranker_component) if settings.reranker_component else None
        )
        self.prompt_builder = PromptBuilder(
            settings.prompt_template, settings.max_input_tokens, settings.chars_per_token
        )
        self.generator = Generator(runtime, settings.llm_component)

    @classmethod
    def from_settings(cls, settings: Settings) -> RagPipeline:
        """A pipeline whose upstream clients open lazily, at the first request."""
        return cls(
            settings,
            runtime=SageMakerRuntime(
                settings.endpoint_name, read_timeout_s=settings.request_timeout_s
            ),
            store=QdrantStore(settings),
            tracer=create_trace_emitter(settings.opik_enabled, settings.opik_secret_id),
        )

    def generation_params(self, request: RagRequest) -> GenerationParams:
        """Configured sampling with the request's overrides, or InvalidRequest."""
        settings = self.settings
        max_new_tokens = request.max_new_tokens or settings.max_new_tokens
        if max_new_tokens > settings.max_new_tokens:
            raise InvalidRequest(f"max_new_tokens must be at most {settings.max_new_tokens}.")
        return GenerationParams(
            max_new_tokens=max_new_tokens,
            temperature=request.temperature or settings.temperature,
            top_p=settings.top_p,
            repetition_penalty=settings.repetition_penalty,
            stop=settings.stop,
            truncate=settings.max_input_tokens,
        )

    async def retrieve_context(
        self, query: str, k: int, author_id: str | None, latency_ms: dict[str, float]
    ) -> list[Chunk]:
        """The k best chunks for `query`, reranked when a reranker is configured."""
        with timed(latency_ms, "embed"):
            vector = await self.embedder.embed(query)
        with timed(latency_ms, "search"):
            hits = await self.retriever.retrieve(vector, k, author_id)
        if self.reranker is None or not hits:
            return hits[:k]
        with timed(latency_ms, "rerank"):
            reranked = await self.reranker.rerank(query, hits)
        return reranked[:k]

    def build_prompt(self, query: str, chunks: list[Chunk]) -> Prompt:
        """The prompt with as much of the context as the model accepts."""
        return self.prompt_builder.build(query, chunks)

    async def generate_answer(
        self, prompt: Prompt, params: GenerationParams, latency_ms: dict[str, float]
    ) -> Generation:
        """The LLM's answer to the prompt."""
        with timed(latency_ms, "generate"):
            return await self.generator.generate(prompt.text, params)

    async def answer(self, request: RagRequest, request_id: str) -> RagAnswer:
        """Run every step within RAG_REQUEST_TIMEOUT_S and emit one prompt trace."""
        params = self.generation_params(request)
        k = request.k if request.k is not None else self.settings.top_k
        trace = PromptTrace(request_id, self.settings.model_id, request.query)
        latency_ms: dict[str, float] = {}
        try:
            with timed(latency_ms, "total"):
                async with asyncio.timeout(self.settings.request_timeout_s):
                    chunks = await self.retrieve_context(
                        request.query, k, request.author_id, latency_ms
                    )
                    trace.retrieved = [
                        RetrievedRef(chunk.collection, chunk.point_id, chunk.score)
                        for chunk in chunks
                    ]
                    prompt = self.build_prompt(request.query, chunks)
                    trace.prompt = prompt.text
                    trace.prompt_tokens_estimate = prompt.token_estimate
                    generation = await self.generate_answer(prompt, params, latency_ms)
            trace.answer = generation.text
            trace.generated_tokens = generation.generated_tokens
            trace.finish_reason = generation.finish_reason
            return RagAnswer(generation.text, prompt.chunks, latency_ms)
        except TimeoutError:
            trace.error_code = DeadlineExceeded.code
            raise DeadlineExceeded(
                f"The request did not complete within {self.settings.request_timeout_s:g} s.",
                detail=f"steps finished: {sorted(latency_ms)}",
            ) from None
        except RagError as err:
            trace.error_code = err.code
            raise
        except Exception:
            trace.error_code = "internal_error"
            raise
        finally:
            trace.latency_ms = latency_ms
            self.tracer.emit(trace)
