"""The RAG steps: retrieve context, build the model input, generate the answer, under a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from rag_app.errors import DeadlineExceeded, InvalidRequest, RagError
from rag_app.schemas import RagRequest
from rag_app.services.embedder import Embedder
from rag_app.services.generation import Generation, GenerationParams
from rag_app.services.generator import Generator, TokenStream
from rag_app.services.prompt import Conversation, Prompt, PromptBuilder
from rag_app.services.reranker import Reranker
from rag_app.services.retriever import Chunk, QdrantStore, Retriever
from rag_app.services.sagemaker_runtime import SageMakerRuntime
from rag_app.services.trace import (
    CLIENT_CLOSED,
    PromptTrace,
    RetrievedRef,
    TraceEmitter,
    create_trace_emitter,
)
from rag_app.settings import Settings

# TGI's default --max-stop-sequences; vLLM takes more, but one limit keeps configs portable.
MAX_STOP_SEQUENCES = 4


@dataclass(frozen=True)
class RagAnswer:
    """The answer, the chunks the prompt held, and per-step latencies in ms."""

    answer: str
    sources: list[Chunk]
    latency_ms: dict[str, float]


@dataclass(frozen=True)
class Retrieval:
    """What to retrieve context for, and how much of it."""

    query: str
    k: int | None = None
    author_id: str | None = None


@dataclass(frozen=True)
class Sampling:
    """A caller's generation overrides; None keeps the configured value."""

    max_new_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # What the caller calls max_new_tokens, so an error names their parameter.
    max_new_tokens_param: str = "max_new_tokens"
    # Structured output: the JSON schema the answer must fit.
    output_schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class ChatResult:
    """The end of a chat answer: what the model reported and the chunks it was given."""

    generation: Generation
    sources: list[Chunk]
    prompt_token_estimate: int


@contextmanager
def timed(latency_ms: dict[str, float], step: str) -> Iterator[None]:
    """Record how long the block took under `step`, even if it fails."""
    start = perf_counter()
    try:
        yield
    finally:
        latency_ms[step] = _ms_since(start)


def _ms_since(start: float) -> float:
    return round((perf_counter() - start) * 1000, 3)


class RagPipeline:
    """Everything one request needs, built once per container."""

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
        template = settings.prompt_template or settings.system_prompt
        assert template is not None  # the settings insist on the one the format needs
        self.prompt_builder = PromptBuilder(
            prompt_format=settings.prompt_format,
            template=template,
            max_input_tokens=settings.max_input_tokens,
            chars_per_token=settings.chars_per_token,
        )
        self.generator = Generator(runtime, settings.llm_component, settings.llm_engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> RagPipeline:
        """A pipeline whose upstream clients open lazily, at the first request."""
        return cls(
            settings,
            runtime=SageMakerRuntime(
                settings.endpoint_name,
                read_timeout_s=settings.request_timeout_s,
                stream_read_timeout_s=settings.stream_timeout_s,
            ),
            store=QdrantStore(settings),
            tracer=create_trace_emitter(settings.opik_enabled, settings.opik_secret_id),
        )

    def generation_params(self, sampling: Sampling) -> GenerationParams:
        """Configured sampling with the caller's overrides, or InvalidRequest."""
        settings = self.settings
        max_new_tokens = sampling.max_new_tokens or settings.max_new_tokens
        if max_new_tokens > settings.max_new_tokens:
            name = sampling.max_new_tokens_param
            raise InvalidRequest(f"{name} must be at most {settings.max_new_tokens}.", param=name)
        # The config's own stop sequences take the engine's places first; the app applies
        # the ones left over.
        stop = list(dict.fromkeys([*settings.stop, *sampling.stop]))
        return GenerationParams(
            max_new_tokens=max_new_tokens,
            temperature=(
                settings.temperature if sampling.temperature is None else sampling.temperature
            ),
            top_p=settings.top_p if sampling.top_p is None else sampling.top_p,
            repetition_penalty=settings.repetition_penalty,
            stop=stop[:MAX_STOP_SEQUENCES],
            app_stop=stop[MAX_STOP_SEQUENCES:],
            truncate=settings.max_input_tokens,
            seed=sampling.seed,
            json_schema=sampling.output_schema,
        )

    async def retrieve_context(
        self, retrieval: Retrieval, latency_ms: dict[str, float]
    ) -> list[Chunk]:
        """The k best chunks for the query, reranked when a reranker is configured."""
        k = retrieval.k if retrieval.k is not None else self.settings.top_k
        with timed(latency_ms, "embed"):
            vector = await self.embedder.embed(retrieval.query)
        with timed(latency_ms, "search"):
            hits = await self.retriever.retrieve(vector, k, retrieval.author_id)
        if self.reranker is None or not hits:
            return hits[:k]
        with timed(latency_ms, "rerank"):
            reranked = await self.reranker.rerank(retrieval.query, hits)
        return reranked[:k]

    def build_prompt(self, conversation: Conversation, chunks: list[Chunk]) -> Prompt:
        """The model input with as much of the context and history as the model accepts."""
        return self.prompt_builder.build(conversation, chunks)

    async def answer(self, request: RagRequest, request_id: str) -> RagAnswer:
        """POST /rag: every step within RAG_REQUEST_TIMEOUT_S, buffered, one prompt trace."""
        params = self.generation_params(
            Sampling(max_new_tokens=request.max_new_tokens, temperature=request.temperature)
        )
        trace = PromptTrace(request_id, self.settings.model_id, request.query, route="rag")
        latency_ms: dict[str, float] = {}
        try:
            with timed(latency_ms, "total"):
                async with asyncio.timeout(self.settings.request_timeout_s):
                    retrieval = Retrieval(request.query, request.k, request.author_id)
                    chunks = await self.retrieve_context(retrieval, latency_ms)
                    prompt = self._traced_prompt(trace, Conversation(request.query), chunks)
                    with timed(latency_ms, "generate"):
                        generation = await self.generator.generate(prompt, params)
            _record(trace, generation)
            return RagAnswer(generation.text, prompt.chunks, latency_ms)
        except TimeoutError:
            raise self._deadline(trace, self.settings.request_timeout_s, latency_ms) from None
        except RagError as err:
            trace.error_code = err.code
            raise
        except Exception:
            trace.error_code = "internal_error"
            raise
        finally:
            trace.latency_ms = latency_ms
            self.tracer.emit(trace)

    async def chat(
        self,
        retrieval: Retrieval,
        conversation: Conversation,
        sampling: Sampling,
        request_id: str,
        *,
        streamed: bool,
    ) -> AsyncGenerator[str | ChatResult]:
        """The chat route: text deltas as the model writes them, then a ChatResult.

        Streamed from the endpoint whether or not the caller streams, within
        RAG_STREAM_TIMEOUT_S; one prompt trace when the answer ends (or the caller leaves).
        """
        params = self.generation_params(sampling)
        # Refused before any upstream is called.
        self.prompt_builder.check_fits(conversation)
        trace = PromptTrace(
            request_id, self.settings.model_id, conversation.query, route="chat", streamed=streamed
        )
        latency_ms: dict[str, float] = {}
        started = perf_counter()
        deadline = asyncio.get_running_loop().time() + self.settings.stream_timeout_s
        stream: TokenStream | None = None
        try:
            async with asyncio.timeout_at(deadline):
                chunks = await self.retrieve_context(retrieval, latency_ms)
                prompt = self._traced_prompt(trace, conversation, chunks)
                generating = perf_counter()
                stream = await self.generator.stream(prompt, params)
            # One timer for the whole stream rather than a timeout scope per token.
            expiry = asyncio.get_running_loop().call_at(deadline, stream.expire)
            deltas = stream.deltas()
            try:
                async for delta in deltas:
                    if "first_token" not in latency_ms:
                        latency_ms["first_token"] = _ms_since(started)
                    yield delta
            finally:
                expiry.cancel()
                await deltas.aclose()
            latency_ms["generate"] = _ms_since(generating)
            assert stream.generation is not None  # set when the deltas ended
            _record(trace, stream.generation)
            result = ChatResult(stream.generation, prompt.chunks, prompt.token_estimate)
        except TimeoutError:
            raise self._deadline(trace, self.settings.stream_timeout_s, latency_ms) from None
        except RagError as err:
            trace.error_code = err.code
            raise
        except (GeneratorExit, asyncio.CancelledError):
            trace.error_code = CLIENT_CLOSED
            raise
        except Exception:
            trace.error_code = "internal_error"
            raise
        finally:
            if stream is not None:
                stream.close()
            latency_ms["total"] = _ms_since(started)
            trace.latency_ms = latency_ms
            # Emitted before the result is handed on, so the caller never holds it back.
            self.tracer.emit(trace)
        yield result

    def _traced_prompt(
        self, trace: PromptTrace, conversation: Conversation, chunks: list[Chunk]
    ) -> Prompt:
        trace.retrieved = [RetrievedRef(c.collection, c.point_id, c.score) for c in chunks]
        prompt = self.build_prompt(conversation, chunks)
        trace.prompt = prompt.render()
        trace.prompt_tokens_estimate = prompt.token_estimate
        trace.history_turns = len(prompt.history)
        return prompt

    def _deadline(
        self, trace: PromptTrace, seconds: float, latency_ms: dict[str, float]
    ) -> DeadlineExceeded:
        trace.error_code = DeadlineExceeded.code
        return DeadlineExceeded(
            f"The request did not complete within {seconds:g} s.",
            detail=f"steps finished: {sorted(latency_ms)}",
        )


def _record(trace: PromptTrace, generation: Generation) -> None:
    trace.answer = generation.text
    trace.generated_tokens = generation.generated_tokens
    trace.prompt_tokens = generation.prompt_tokens
    trace.finish_reason = generation.finish_reason
