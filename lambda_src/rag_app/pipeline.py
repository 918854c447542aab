"""The RAG steps composed: retrieve context, build the model input, generate, under a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from time import perf_counter
from typing import Any

from rag_app.errors import DeadlineExceeded, InvalidRequest, RagError, UpstreamFailed
from rag_app.retrieval.flow import RetrievalChoices, RetrievalFlow, Retrieved
from rag_app.retrieval.helper import HelperLlm
from rag_app.retrieval.steps import SearchSteps
from rag_app.retrieval.timings import StepTimings, ms_since
from rag_app.schemas import RagRequest, RetrievalOptions
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
from rag_app.settings import Settings, SettingsError

# TGI's default --max-stop-sequences; vLLM takes more, but one limit keeps configs portable.
MAX_STOP_SEQUENCES = 4
# What a retrieve-only answer reports: nothing generated, nothing read by the model.
NOTHING_GENERATED = Generation("", generated_tokens=0, finish_reason="stop", prompt_tokens=0)


@dataclass(frozen=True)
class RagAnswer:
    """The answer (None when only retrieving), the chunks the prompt held, and the retrieval."""

    answer: str | None
    sources: list[Chunk]
    retrieved: Retrieved
    latency_ms: dict[str, float]
    # Whether the caller asked for the retrieval report.
    report: bool


@dataclass(frozen=True)
class Retrieval:
    """What to retrieve context for, and the caller's retrieval options."""

    query: str
    options: RetrievalOptions = field(default_factory=RetrievalOptions)


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
    """The end of a chat answer: what the model reported, the chunks it was given, the
    retrieval and the step latencies."""

    generation: Generation
    sources: list[Chunk]
    prompt_token_estimate: int
    retrieved: Retrieved
    latency_ms: dict[str, float]
    # Whether the caller asked for the retrieval report.
    report: bool


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
        reranker = (
            Reranker(runtime, settings.reranker_component) if settings.reranker_component else None
        )
        steps = SearchSteps(
            Embedder(runtime, settings.embedding_component),
            Retriever(store, settings.collections),
            reranker,
        )
        template = settings.prompt_template or settings.system_prompt
        if template is None:
            raise SettingsError("no prompt template or system prompt for the prompt format")
        self.prompt_builder = PromptBuilder(
            prompt_format=settings.prompt_format,
            template=template,
            max_input_tokens=settings.max_input_tokens,
            chars_per_token=settings.chars_per_token,
        )
        self.generator = Generator(runtime, settings.llm_component, settings.llm_engine)
        helper = HelperLlm.for_settings(settings, runtime, self.generator)
        self.retrieval = RetrievalFlow(settings, steps, helper)

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

    def build_prompt(self, conversation: Conversation, chunks: list[Chunk]) -> Prompt:
        """The model input with as much of the context and history as the model accepts."""
        return self.prompt_builder.build(conversation, chunks)

    async def answer(self, request: RagRequest, request_id: str) -> RagAnswer:
        """POST /rag: every step within RAG_REQUEST_TIMEOUT_S, buffered, one prompt trace."""
        params = self.generation_params(
            Sampling(max_new_tokens=request.max_new_tokens, temperature=request.temperature)
        )
        choices = self.retrieval.choices(request.query, request)
        trace = PromptTrace(request_id, self.settings.model_id, request.query, route="rag")
        timings = StepTimings()
        seconds = self.settings.request_timeout_s
        with self._traced(trace, timings, seconds):
            async with asyncio.timeout(seconds):
                retrieved = await self._retrieve(choices, trace, timings)
                if choices.retrieve_only:
                    answer, sources = None, []
                else:
                    prompt = self._traced_prompt(trace, Conversation(request.query), retrieved)
                    with timings.measure("generate"):
                        generation = await self.generator.generate(prompt, params)
                    _record(trace, generation)
                    answer, sources = generation.text, prompt.chunks
        return RagAnswer(answer, sources, retrieved, timings.as_dict(), choices.report)

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
        choices = self.retrieval.choices(retrieval.query, retrieval.options)
        # Refused before any upstream is called.
        self.prompt_builder.check_fits(conversation)
        trace = PromptTrace(
            request_id, self.settings.model_id, conversation.query, route="chat", streamed=streamed
        )
        timings = StepTimings()
        started = perf_counter()
        seconds = self.settings.stream_timeout_s
        deadline = asyncio.get_running_loop().time() + seconds
        stream: TokenStream | None = None
        with self._traced(trace, timings, seconds):
            try:
                async with asyncio.timeout_at(deadline):
                    retrieved = await self._retrieve(choices, trace, timings)
                    if choices.retrieve_only:
                        result = ChatResult(NOTHING_GENERATED, [], 0, retrieved, {}, True)
                    else:
                        prompt = self._traced_prompt(trace, conversation, retrieved)
                        generating = perf_counter()
                        stream = await self.generator.stream(prompt, params)
                if stream is not None:
                    async for delta in self._deltas(stream, deadline, started, timings):
                        yield delta
                    timings.record("generate", ms_since(generating))
                    generation = _ended(stream)
                    _record(trace, generation)
                    result = ChatResult(
                        generation,
                        prompt.chunks,
                        prompt.token_estimate,
                        retrieved,
                        {},
                        choices.report,
                    )
            finally:
                if stream is not None:
                    stream.close()
                timings.record("total", ms_since(started))
        # Traced before the result is handed on, so the caller never holds the trace back.
        yield _with_latencies(result, timings)

    async def _deltas(
        self, stream: TokenStream, deadline: float, started: float, timings: StepTimings
    ) -> AsyncGenerator[str]:
        """The stream's text, ended by TimeoutError at the deadline."""
        # One timer for the whole stream rather than a timeout scope per token.
        expiry = asyncio.get_running_loop().call_at(deadline, stream.expire)
        deltas = stream.deltas()
        try:
            async for delta in deltas:
                if "first_token" not in timings:
                    timings.record("first_token", ms_since(started))
                yield delta
        finally:
            expiry.cancel()
            await deltas.aclose()

    async def _retrieve(
        self, choices: RetrievalChoices, trace: PromptTrace, timings: StepTimings
    ) -> Retrieved:
        retrieved = await self.retrieval.retrieve(choices, timings)
        trace.retrieved = [
            RetrievedRef(c.collection, c.point_id, c.score) for c in retrieved.chunks
        ]
        trace.phrasings = retrieved.phrasings
        trace.fallbacks = retrieved.fallbacks
        if retrieved.author is not None:
            trace.author = retrieved.author.name
            trace.author_filtered = retrieved.author.filtered
        return retrieved

    @contextmanager
    def _traced(self, trace: PromptTrace, timings: StepTimings, seconds: float) -> Iterator[None]:
        """Name the request's failure on its trace, and emit the trace however it ends."""
        start = perf_counter()
        try:
            yield
        except TimeoutError:
            trace.error_code = DeadlineExceeded.code
            raise DeadlineExceeded(
                f"The request did not complete within {seconds:g} s.",
                detail=f"steps finished: {sorted(timings.as_dict())}",
            ) from None
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
            if "total" not in timings:
                timings.record("total", ms_since(start))
            trace.latency_ms = timings.as_dict()
            self.tracer.emit(trace)

    def _traced_prompt(
        self, trace: PromptTrace, conversation: Conversation, retrieved: Retrieved
    ) -> Prompt:
        prompt = self.build_prompt(conversation, retrieved.chunks)
        trace.prompt = prompt.render()
        trace.prompt_tokens_estimate = prompt.token_estimate
        trace.history_turns = len(prompt.history)
        return prompt


def _ended(stream: TokenStream) -> Generation:
    """The stream's Generation, which its parser sets when the deltas end."""
    if stream.generation is None:
        raise UpstreamFailed("The answer ended without its result.", detail="no Generation")
    return stream.generation


def _with_latencies(result: ChatResult, timings: StepTimings) -> ChatResult:
    return ChatResult(
        result.generation,
        result.sources,
        result.prompt_token_estimate,
        result.retrieved,
        timings.as_dict(),
        result.report,
    )


def _record(trace: PromptTrace, generation: Generation) -> None:
    trace.answer = generation.text
    trace.generated_tokens = generation.generated_tokens
    trace.prompt_tokens = generation.prompt_tokens
    trace.finish_reason = generation.finish_reason
