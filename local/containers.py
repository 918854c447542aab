"""The model containers behind the local endpoint: TGI or vLLM on llama.cpp, TEI on MiniLM.

Each answers like its real container would over HTTP: a status, a content type and body
chunks. The LLM runs on one dedicated thread (llama.cpp is not thread-safe) and the embedder
on another, so a query embedding never waits behind a long generation.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from local import openai_api, tei, tgi
from local.embedder import Embedder
from local.llm import Engine, GeneratedToken


@dataclass
class ContainerResponse:
    """What the container sent back; `stats` fills in while the body is produced."""

    status: int
    content_type: str
    chunks: AsyncIterator[bytes]
    stats: dict[str, Any] = field(default_factory=dict)


class Container(Protocol):
    """A model server reachable through an inference component."""

    kind: str

    async def invoke(self, body: bytes, cancel: threading.Event) -> ContainerResponse: ...

    def close(self) -> None: ...


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _json(status: int, payload: Any, stats: dict[str, Any]) -> ContainerResponse:
    return ContainerResponse(
        status, "application/json", _one_chunk(json.dumps(payload).encode("utf-8")), stats
    )


class GenerationJob(Protocol):
    """One validated generation request, run on the LLM thread in the engine's contract."""

    stream: bool
    stats: dict[str, Any]

    def answer(self, cancel: threading.Event) -> tuple[int, Any]:
        """Status and JSON body of the whole answer."""
        ...

    def events(self, cancel: threading.Event) -> Iterator[bytes]:
        """Server-sent events, produced as the tokens come."""
        ...

    def failed(self, err: Exception) -> bytes:
        """The event that ends a stream which broke after it started."""
        ...


class TgiJob:
    """TGI's generate contract (`{"inputs", "parameters"}`)."""

    def __init__(self, engine: Engine, valid: tgi.ValidRequest, stats: dict[str, Any]):
        self.engine, self.valid, self.stats = engine, valid, stats
        self.stream = valid.request.stream
        self.state = tgi.Generation()

    def _run(self, cancel: threading.Event) -> Iterator[GeneratedToken]:
        try:
            yield from tgi.generate(self.engine, self.valid, self.state, cancel)
        finally:
            self.stats.update(
                generated_tokens=len(self.state.tokens),
                finish_reason=self.state.finish_reason,
                generated_text=self.state.text,
            )

    def answer(self, cancel: threading.Event) -> tuple[int, Any]:
        for _ in self._run(cancel):
            pass
        return 200, tgi.response_body(self.valid, self.state)

    def events(self, cancel: threading.Event) -> Iterator[bytes]:
        for token in self._run(cancel):
            yield tgi.stream_event(self.valid, token, self.state)

    def failed(self, err: Exception) -> bytes:
        return tgi.sse_event(_tgi_generation_error(err).body())


class TgiChatJob(TgiJob):
    """TGI's chat route: its generate path under the model's chat template, OpenAI's shapes."""

    def __init__(
        self,
        engine: Engine,
        valid: tgi.ValidRequest,
        stats: dict[str, Any],
        chat: tgi.ChatRequest,
        model: str,
    ):
        super().__init__(engine, valid, stats)
        self.chat, self.model = chat, model

    def answer(self, cancel: threading.Event) -> tuple[int, Any]:
        for _ in self._run(cancel):
            pass
        return 200, tgi.chat_response_body(self.valid, self.state, self.model)

    def events(self, cancel: threading.Event) -> Iterator[bytes]:
        for token in self._run(cancel):
            yield tgi.chat_stream_event(token, self.state, self.model)
        yield tgi.chat_stream_end(self.chat, self.valid, self.state, self.model)


class OpenAiJob:
    """OpenAI completions and chat completions, as vLLM serves them."""

    def __init__(self, engine: Engine, valid: openai_api.ValidRequest, stats: dict[str, Any]):
        self.engine, self.valid, self.stats = engine, valid, stats
        self.stream = valid.request.stream
        self.state = openai_api.Completion()

    def _run(self, cancel: threading.Event) -> Iterator[str]:
        try:
            yield from openai_api.generate(self.engine, self.valid, self.state, cancel)
        finally:
            self.stats.update(
                generated_tokens=self.state.tokens,
                finish_reason=self.state.finish_reason,
                generated_text=self.state.text,
            )

    def answer(self, cancel: threading.Event) -> tuple[int, Any]:
        for _ in self._run(cancel):
            pass
        return 200, openai_api.response_body(self.valid, self.state)

    def events(self, cancel: threading.Event) -> Iterator[bytes]:
        writer = openai_api.StreamWriter(self.valid)
        yield writer.first()
        for delta in self._run(cancel):
            yield writer.delta(delta)
        yield writer.end(self.state)

    def failed(self, err: Exception) -> bytes:
        return openai_api.StreamWriter(self.valid).error(f"Request failed during generation: {err}")


def _tgi_generation_error(err: Exception) -> tgi.TgiError:
    return tgi.TgiError(424, f"Request failed during generation: {err}", "generation")


class LlmContainer:
    """The LLM's `/invocations` in the contract of the configured engine (TGI or vLLM)."""

    kind = "llm"

    def __init__(
        self,
        engine: Engine,
        limits: tgi.Limits,
        dialect: str,
        served_model: str,
        executor: ThreadPoolExecutor | None = None,
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.dialect = dialect
        self.served_model = served_model
        self._owns_executor = executor is None
        self._executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm")

    def beside(self, limits: tgi.Limits, dialect: str, served_model: str) -> LlmContainer:
        """Another component served by this one's model, on its thread (llama.cpp is not
        thread-safe): local mode's stand-in for a separate helper model."""
        return LlmContainer(self.engine, limits, dialect, served_model, self._executor)

    def close(self) -> None:
        if self._owns_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def invoke(self, body: bytes, cancel: threading.Event) -> ContainerResponse:
        stats: dict[str, Any] = {}
        # Parsing and tokenizing happen off the LLM thread, as in the real routers.
        accepted = await asyncio.to_thread(self._accept, body, stats)
        if isinstance(accepted, ContainerResponse):
            return accepted
        job = accepted
        if job.stream:
            return ContainerResponse(200, "text/event-stream", self._stream(job, cancel), stats)
        loop = asyncio.get_running_loop()
        try:
            status, answer = await loop.run_in_executor(self._executor, self._answer, job, cancel)
        except Exception as err:
            return self._failure(err, stats)
        return _json(status, answer, stats)

    def _accept(self, body: bytes, stats: dict[str, Any]) -> GenerationJob | ContainerResponse:
        if self.dialect == "vllm":
            return self._accept_openai(body, stats)
        return self._accept_tgi(body, stats)

    def _accept_tgi(self, body: bytes, stats: dict[str, Any]) -> GenerationJob | ContainerResponse:
        request: tgi.GenerateRequest | None = None
        chat: tgi.ChatRequest | None = None
        try:
            raw = tgi.decode_json(body)
            # TGI's SageMaker route tries its generate body first, then a chat completion.
            if tgi.is_chat(raw):
                chat = tgi.shaped(raw, tgi.ChatRequest)
                request = tgi.chat_as_generate(chat, self.engine)
            else:
                request = tgi.shaped(raw, tgi.GenerateRequest)
            stats["request"] = raw
            valid = tgi.validate(request, self.engine, self.limits)
        except tgi.TgiError as err:
            stats["error"] = err.message
            if request is not None and request.stream:
                # TGI opens the event stream first and reports validation errors inside it.
                return ContainerResponse(
                    200, "text/event-stream", _one_chunk(tgi.sse_event(err.body())), stats
                )
            return _json(err.status, err.body(), stats)
        stats["input_tokens"] = len(valid.input_ids)
        if chat is not None:
            return TgiChatJob(self.engine, valid, stats, chat, self.served_model)
        return TgiJob(self.engine, valid, stats)

    def _accept_openai(
        self, body: bytes, stats: dict[str, Any]
    ) -> GenerationJob | ContainerResponse:
        try:
            raw = openai_api.decode_json(body)
            request = openai_api.request_of(raw)
            stats["request"] = raw
            valid = openai_api.validate(
                request, self.engine, self.limits.max_total_tokens, self.served_model
            )
        except openai_api.OpenAiError as err:
            # vLLM validates before it starts a stream: the error is a plain JSON answer.
            stats["error"] = err.message
            return _json(err.status, err.body(), stats)
        stats["input_tokens"] = len(valid.input_ids)
        return OpenAiJob(self.engine, valid, stats)

    @staticmethod
    def _answer(job: GenerationJob, cancel: threading.Event) -> tuple[int, Any]:
        if cancel.is_set():
            # Given up on while it waited for the LLM thread: skip the work.
            return 499, {}
        return job.answer(cancel)

    def _failure(self, err: Exception, stats: dict[str, Any]) -> ContainerResponse:
        if self.dialect == "vllm":
            failure = openai_api.OpenAiError(f"Request failed during generation: {err}", status=500)
            stats["error"] = failure.message
            return _json(failure.status, failure.body(), stats)
        tgi_failure = _tgi_generation_error(err)
        stats["error"] = tgi_failure.message
        return _json(tgi_failure.status, tgi_failure.body(), stats)

    async def _stream(self, job: GenerationJob, cancel: threading.Event) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()

        def send(item: bytes | None) -> None:
            # The event loop may be gone if the server stops mid-generation.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(queue.put_nowait, item)

        def produce() -> None:
            try:
                if cancel.is_set():
                    return
                for event in job.events(cancel):
                    if event:
                        send(event)
            except Exception as err:
                job.stats["error"] = f"Request failed during generation: {err}"
                send(job.failed(err))
            finally:
                send(None)

        running = loop.run_in_executor(self._executor, produce)
        try:
            while (item := await queue.get()) is not None:
                yield item
            await running
        finally:
            # A client that hung up must not keep the LLM busy.
            cancel.set()


class TeiContainer:
    """TEI's `/invocations` for an embedding model: `[[float, ...], ...]`."""

    kind = "embedding"

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embedding")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def invoke(self, body: bytes, cancel: threading.Event) -> ContainerResponse:
        stats: dict[str, Any] = {}
        try:
            request = tei.parse_request(body)
            embed = functools.partial(tei.embed, request, self.embedder)
            vectors = await asyncio.get_running_loop().run_in_executor(self._executor, embed)
        except tei.TeiError as err:
            stats["error"] = err.message
            return _json(err.status, err.body(), stats)
        except Exception as err:
            # TEI reports backend failures as 424 Failed Dependency.
            failure = tei.TeiError(424, str(err), "backend")
            stats["error"] = failure.message
            return _json(failure.status, failure.body(), stats)
        stats["inputs"] = len(vectors)
        return _json(200, vectors, stats)
