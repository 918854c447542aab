"""OpenAI-compatible routes: POST /v1/chat/completions (buffered or streamed) and GET /v1/models.

The answer is RAG on the last user message; earlier turns are kept as history while they fit.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable
from typing import Any, TypeVar

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from rag_app.api.deps import PipelineDep, RequestIdDep, SettingsDep
from rag_app.api.error_handlers import error_body, error_responses
from rag_app.api.routes.rag import retrieval_report, to_source
from rag_app.chat_schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ModelCard,
    ModelList,
    OpenAiErrorResponse,
    RagOptions,
    Usage,
)
from rag_app.errors import ModelNotFound, RagError, UpstreamFailed
from rag_app.log import logger
from rag_app.pipeline import ChatResult, Retrieval, Sampling
from rag_app.services.prompt import Conversation, Message
from rag_app.settings import Settings

router = APIRouter(prefix="/v1", tags=["openai"])

PATH = "/v1/chat/completions"
OWNED_BY = "llm-twin"
# nginx's status for "the client closed the request": logged, never received by anyone.
CLIENT_CLOSED_STATUS = 499
ERROR_RESPONSES = error_responses(
    OpenAiErrorResponse,
    {
        400: "Invalid request, unsupported parameter value, or messages over the context length",
        404: "The model named is not served here",
    },
)
ERROR_RESPONSES.pop(422)
T = TypeVar("T")


class ClientDisconnected(Exception):
    """The caller hung up before the answer was ready."""


@router.get("/models")
async def list_models(settings: SettingsDep) -> ModelList:
    """The one model this deployment serves; its id is what `model` must name."""
    return ModelList(data=[_model_card(settings)])


@router.get("/models/{model_id:path}", responses=ERROR_RESPONSES)
async def get_model(model_id: str, settings: SettingsDep) -> ModelCard:
    """One model by id (404 unless it is the served one)."""
    _check_model(model_id, settings)
    return _model_card(settings)


@router.post(
    "/chat/completions",
    responses={
        **ERROR_RESPONSES,
        200: {
            "description": "A chat.completion, or with stream=true text/event-stream chunks",
            "content": {"text/event-stream": {}},
        },
    },
    response_model=ChatCompletion,
)
async def chat_completions(
    body: ChatCompletionRequest,
    request: Request,
    pipeline: PipelineDep,
    settings: SettingsDep,
    request_id: RequestIdDep,
) -> Any:
    """Answer the last user message from retrieved context, in OpenAI's wire format."""
    _check_model(body.model, settings)
    retrieval, conversation, sampling = _inputs(body)
    streamed = bool(body.stream)
    events = pipeline.chat(retrieval, conversation, sampling, request_id, streamed=streamed)
    reply = _Reply(request_id, settings.model_id, include_usage=body.include_usage)
    try:
        if not streamed:
            text, result = await _unless_disconnected(request, _collect(events))
            return reply.completion(text, result)
        # Until the first token, a failure still gets its status and JSON body.
        first = await _unless_disconnected(request, anext(events))
    except ClientDisconnected:
        # The pipeline was cancelled where it waited: it closed the model's stream and
        # traced the request as client_closed.
        logger.info("client disconnected before the answer", extra={"status": 499})
        return Response(status_code=CLIENT_CLOSED_STATUS)
    return StreamingResponse(
        reply.stream(first, events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _collect(events: AsyncGenerator[str | ChatResult]) -> tuple[str, ChatResult]:
    """The whole answer of a non-streamed request."""
    text: list[str] = []
    result: ChatResult | None = None
    async for event in events:
        if isinstance(event, ChatResult):
            result = event
        else:
            text.append(event)
    if result is None:
        raise UpstreamFailed("The answer ended without its result.", detail="no ChatResult")
    return "".join(text), result


async def _unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """`work`'s result, or ClientDisconnected as soon as the caller hangs up (work cancelled).

    Until a response starts, nothing else notices a caller who left: without this the model
    would read the whole prompt for nobody.
    """
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
        watcher.cancel()
    if not task.done() or task.cancelled():
        # Give the cancelled work its chance to close the upstream before answering.
        await asyncio.wait({task})
        raise ClientDisconnected
    return task.result()


async def _disconnect(request: Request) -> None:
    """Returns once the client has gone (the body has been read already)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _check_model(model: str, settings: Settings) -> None:
    if model != settings.model_id:
        raise ModelNotFound(
            f"The model `{model}` does not exist or you do not have access to it; "
            "GET /v1/models lists the one served.",
            param="model",
        )


def _model_card(settings: Settings) -> ModelCard:
    return ModelCard(id=settings.model_id, created=0, owned_by=OWNED_BY)


def _inputs(body: ChatCompletionRequest) -> tuple[Retrieval, Conversation, Sampling]:
    """The request as the pipeline takes it (which checks it against the config's limits)."""
    *earlier, last = body.messages
    instructions = tuple(m.text for m in earlier if m.role in ("system", "developer"))
    history = tuple(
        Message("user" if m.role == "user" else "assistant", m.text)
        for m in earlier
        if m.role in ("user", "assistant")
    )
    retrieval = Retrieval(last.text.strip(), body.rag or RagOptions())
    conversation = Conversation(last.text.strip(), history, instructions)
    sampling = Sampling(
        max_new_tokens=body.max_completion_tokens or body.max_tokens,
        max_new_tokens_param="max_completion_tokens"
        if body.max_completion_tokens
        else "max_tokens",
        temperature=body.temperature,
        top_p=body.top_p,
        stop=body.stop_sequences,
        seed=body.seed,
        output_schema=body.output_schema,
    )
    return retrieval, conversation, sampling


class _Reply:
    """Builds the chat.completion object and the chat.completion.chunk events of one answer."""

    def __init__(self, request_id: str, model: str, *, include_usage: bool) -> None:
        self.id = f"chatcmpl-{request_id}"
        self.request_id = request_id
        self.model = model
        self.created = int(time.time())
        self.include_usage = include_usage
        # A token's chunk is this chunk with its text in the middle: one JSON encoding of
        # the text per token instead of the whole chunk.
        head, tail = self._chunk({"content": "\0"}).split(b'"\\u0000"')
        self._token_head, self._token_tail = head, tail

    def completion(self, text: str, result: ChatResult) -> ChatCompletion:
        return ChatCompletion(
            id=self.id,
            created=self.created,
            model=self.model,
            choices=[
                Choice(
                    message=AssistantMessage(content=text.strip()),
                    finish_reason=result.generation.finish_reason,
                )
            ],
            usage=_usage(result),
            sources=[to_source(chunk) for chunk in result.sources],
            **_report(result),
        )

    async def stream(
        self, first: str | ChatResult, events: AsyncGenerator[str | ChatResult]
    ) -> AsyncIterator[bytes]:
        """SSE: the deltas, a last chunk with finish_reason and sources, usage, [DONE].

        A failure after the first byte can no longer change the status: it ends the
        stream with an error event (OpenAI SDKs raise it) and no [DONE].
        """
        try:
            yield self._chunk({"role": "assistant", "content": ""})
            event: str | ChatResult | None = first
            while event is not None:
                if isinstance(event, ChatResult):
                    yield self._last_chunks(event)
                    break
                yield self._token_head + json.dumps(event).encode() + self._token_tail
                event = await anext(events, None)
        except RagError as err:
            body = error_body(
                err.status, err.code, err.message, self.request_id, path=PATH, param=err.param
            )
            yield _sse(body)
        except Exception:
            logger.exception("chat stream failed")
            yield _sse(
                error_body(500, "internal_error", "The stream failed.", self.request_id, path=PATH)
            )
        finally:
            # Shielded: a caller who hung up cancels this task, and the upstream must still
            # be closed so the model stops generating.
            with anyio.CancelScope(shield=True):
                await events.aclose()

    def _chunk(
        self, delta: dict[str, Any], finish_reason: str | None = None, **extra: Any
    ) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
        # With include_usage OpenAI sends "usage": null in every chunk but the usage one.
        usage: dict[str, Any] = {"usage": None} if self.include_usage else {}
        return _sse(self._chunk_body([choice]) | usage | extra)

    def _chunk_body(self, choices: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }

    def _last_chunks(self, result: ChatResult) -> bytes:
        sources = [to_source(chunk).model_dump() for chunk in result.sources]
        report = {key: _jsonable(value) for key, value in _report(result).items()}
        last = self._chunk({}, result.generation.finish_reason, sources=sources, **report)
        if self.include_usage:
            last += _sse(self._chunk_body([]) | {"usage": _usage(result).model_dump()})
        return last + b"data: [DONE]\n\n"


def _usage(result: ChatResult) -> Usage:
    generation = result.generation
    prompt = generation.prompt_tokens
    if prompt is None:
        prompt = result.prompt_token_estimate
    completion = generation.generated_tokens or 0
    return Usage(
        prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
    )


def _report(result: ChatResult) -> dict[str, Any]:
    """The retrieval report when the caller asked for it (rag.return_retrieved)."""
    return retrieval_report(result.retrieved, result.latency_ms) if result.report else {}


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    return value.model_dump() if hasattr(value, "model_dump") else value


def _sse(body: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
