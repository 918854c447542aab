"""Runs the question set through the API: /rag with retrieve_only for retrieval alone, the chat
route streamed through the openai SDK for answers, a bounded number of requests at a time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx2
import openai
from pydantic import BaseModel, ConfigDict, ValidationError
from tqdm import tqdm

from evaluation.question_set import Question
from evaluation.variants import Variant

# httpx2: the fork the openai SDK itself is built on, so one transport serves both clients.
TIMEOUT_S = 300.0


class EvalError(RuntimeError):
    """The run cannot go on (the API refused a variant's options, or is unreachable)."""


class Retrieved(BaseModel):
    """One point of the API's ranked `retrieved` list."""

    model_config = ConfigDict(extra="ignore")

    point_id: str
    document_id: str | None = None
    rank: int
    score: float | None = None


class SourceRef(BaseModel):
    """One packed source of an answer: enough to check it and find its text."""

    model_config = ConfigDict(extra="ignore")

    point_id: str
    document_id: str | None = None


class Report(BaseModel):
    """The fields a /rag body or the last chat chunk carries with return_retrieved."""

    model_config = ConfigDict(extra="ignore")

    sources: list[SourceRef] = []
    retrieved: list[Retrieved] = []
    retrieval: dict[str, Any] | None = None
    latency_ms: dict[str, float] = {}


@dataclass
class Outcome:
    """What one question got under one variant."""

    question_id: str
    variant: str
    retrieved: list[Retrieved] = field(default_factory=list)
    sources: list[SourceRef] = field(default_factory=list)
    answer: str | None = None
    retrieval: dict[str, Any] | None = None
    latency_ms: dict[str, float] = field(default_factory=dict)
    # Measured by this client: the API's own figures are in latency_ms.
    client_ms: float = 0.0
    ttft_ms: float | None = None
    error: str | None = None


def auth_headers(api_key: str) -> dict[str, str]:
    # API Gateway checks x-api-key; OpenAI clients send the key as a bearer token.
    return {"x-api-key": api_key, "Authorization": f"Bearer {api_key}"} if api_key else {}


def _refusal(status: int, body: str) -> EvalError:
    return EvalError(f"the API refused the request ({status}): {body[:500]}")


class ApiClient:
    """The two ways of asking one API: retrieval alone, or a streamed answer."""

    def __init__(
        self,
        url: str,
        api_key: str,
        *,
        max_tokens: int | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.http = httpx2.AsyncClient(
            base_url=self.url, headers=auth_headers(api_key), timeout=TIMEOUT_S, transport=transport
        )
        self.chat = openai.AsyncOpenAI(
            base_url=f"{self.url}/v1",
            api_key=api_key or "local",
            default_headers={"x-api-key": api_key} if api_key else None,
            timeout=TIMEOUT_S,
            max_retries=1,
            http_client=httpx2.AsyncClient(transport=transport) if transport else None,
        )
        self.max_tokens = max_tokens
        self._model_id: str | None = None

    async def aclose(self) -> None:
        await self.http.aclose()
        await self.chat.close()

    async def model_id(self) -> str:
        """The model the chat route serves (its /v1/models list has exactly that one)."""
        if self._model_id is None:
            try:
                models = await self.chat.models.list()
            except openai.APIError as err:
                raise EvalError(f"cannot list the API's models: {err}") from None
            if not models.data:
                raise EvalError("the API lists no model")
            self._model_id = models.data[0].id
        return self._model_id

    async def retrieve(self, question: Question, variant: Variant) -> Outcome:
        """POST /rag with retrieve_only: no generation call."""
        body = {"query": question.question, **variant.options, "retrieve_only": True}
        outcome = Outcome(question.id, variant.name)
        started = time.perf_counter()
        try:
            response = await self.http.post("/rag", json=body)
        except httpx2.HTTPError as err:
            outcome.error = f"{type(err).__name__}: {err}"
            return outcome
        outcome.client_ms = (time.perf_counter() - started) * 1000
        if 400 <= response.status_code < 500:
            raise _refusal(response.status_code, response.text)
        if response.status_code != 200:
            outcome.error = f"HTTP {response.status_code}: {response.text[:200]}"
            return outcome
        return _fill(outcome, response.json())

    async def answer(self, question: Question, variant: Variant) -> Outcome:
        """The chat route, streamed, with the retrieval report on its last chunk."""
        outcome = Outcome(question.id, variant.name)
        extra: dict[str, Any] = {"rag": {**variant.options, "return_retrieved": True}}
        parts: list[str] = []
        report: dict[str, Any] = {}
        started = time.perf_counter()
        try:
            stream = await self.chat.chat.completions.create(
                model=await self.model_id(),
                messages=[{"role": "user", "content": question.question}],
                stream=True,
                max_tokens=self.max_tokens,
                extra_body=extra,
            )
            async for chunk in stream:
                for choice in chunk.choices:
                    if choice.delta.content:
                        if outcome.ttft_ms is None:
                            outcome.ttft_ms = (time.perf_counter() - started) * 1000
                        parts.append(choice.delta.content)
                if chunk.model_extra and "sources" in chunk.model_extra:
                    report = chunk.model_extra
        except openai.APIStatusError as err:
            if 400 <= err.status_code < 500:
                raise _refusal(err.status_code, str(err.body)) from None
            outcome.error = f"HTTP {err.status_code}: {err.message[:200]}"
            return outcome
        except openai.APIError as err:
            outcome.error = f"{type(err).__name__}: {err}"
            return outcome
        outcome.client_ms = (time.perf_counter() - started) * 1000
        outcome.answer = "".join(parts).strip()
        if not report:
            outcome.error = "the stream ended without the chunk that carries sources"
            return outcome
        return _fill(outcome, report)


def _fill(outcome: Outcome, body: dict[str, Any]) -> Outcome:
    try:
        report = Report.model_validate(body)
    except ValidationError as err:
        outcome.error = f"unexpected response shape: {err.errors()[0]['msg']}"
        return outcome
    outcome.sources = report.sources
    outcome.retrieved = sorted(report.retrieved, key=lambda item: item.rank)
    outcome.retrieval = report.retrieval
    outcome.latency_ms = report.latency_ms
    return outcome


Ask = Callable[[Question, Variant], Awaitable[Outcome]]


async def run_all(
    ask: Ask,
    questions: list[Question],
    variants: list[Variant],
    *,
    concurrency: int,
    progress: bool = True,
) -> list[Outcome]:
    """Every question under every variant, at most `concurrency` requests in flight."""
    gate = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(questions) * len(variants), unit="q", disable=not progress)

    async def one(question: Question, variant: Variant) -> Outcome:
        async with gate:
            outcome = await ask(question, variant)
        bar.update()
        return outcome

    try:
        # Variant by variant: a refused option stops the run before the next one starts.
        outcomes: list[Outcome] = []
        for variant in variants:
            bar.set_description(variant.name)
            # One untimed request first, so the first variant's figures carry no warm-up
            # (model pages, connection set-up) the others are spared.
            await ask(questions[0], variant)
            outcomes += await asyncio.gather(*(one(q, variant) for q in questions))
        return outcomes
    finally:
        bar.close()
