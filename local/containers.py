"""The model containers behind the local endpoint: TGI on llama.cpp and TEI on MiniLM.

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
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from local import tei, tgi
from local.embedder import Embedder
from local.llm import LlamaEngine


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


class TgiContainer:
    """TGI's `/invocations`: JSON answers, or server-sent events when `"stream": true`."""

    kind = "llm"

    def __init__(self, engine: LlamaEngine, limits: tgi.Limits) -> None:
        self.engine = engine
        self.limits = limits
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llm")

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def invoke(self, body: bytes, cancel: threading.Event) -> ContainerResponse:
        stats: dict[str, Any] = {}
        request: tgi.GenerateRequest | None = None
        try:
            request = tgi.parse_request(body)
            stats["request"] = json.loads(body)
            # Tokenizing happens off the LLM thread, as in TGI's router: no queueing for it.
            valid = await asyncio.to_thread(tgi.validate, request, self.engine, self.limits)
        except tgi.TgiError as err:
            stats["error"] = err.message
            if request is not None and request.stream:
                # TGI opens the event stream first and reports validation errors inside it.
                return ContainerResponse(
                    200, "text/event-stream", _one_chunk(tgi.sse_event(err.body())), stats
                )
            return _json(err.status, err.body(), stats)
        stats["input_tokens"] = len(valid.input_ids)
        if request.stream:
            chunks = self._stream(valid, stats, cancel)
            return ContainerResponse(200, "text/event-stream", chunks, stats)
        loop = asyncio.get_running_loop()
        try:
            state = await loop.run_in_executor(self._executor, self._complete, valid, cancel)
        except Exception as err:
            failure = tgi.TgiError(424, f"Request failed during generation: {err}", "generation")
            stats["error"] = failure.message
            return _json(failure.status, failure.body(), stats)
        self._record(stats, state)
        return _json(200, tgi.response_body(valid, state), stats)

    def _complete(self, valid: tgi.ValidRequest, cancel: threading.Event) -> tgi.Generation:
        state = tgi.Generation()
        if cancel.is_set():
            # Given up on while it waited for the LLM thread: skip the work.
            return state
        for _ in tgi.generate(self.engine, valid, state, cancel):
            pass
        return state

    @staticmethod
    def _record(stats: dict[str, Any], state: tgi.Generation) -> None:
        stats["generated_tokens"] = len(state.tokens)
        stats["finish_reason"] = state.finish_reason
        stats["generated_text"] = state.text

    async def _stream(
        self, valid: tgi.ValidRequest, stats: dict[str, Any], cancel: threading.Event
    ) -> AsyncIterator[bytes]:
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
                state = tgi.Generation()
                for token in tgi.generate(self.engine, valid, state, cancel):
                    send(tgi.stream_event(valid, token, state))
                self._record(stats, state)
            except Exception as err:
                failure = tgi.TgiError(
                    424, f"Request failed during generation: {err}", "generation"
                )
                stats["error"] = failure.message
                send(tgi.sse_event(failure.body()))
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
