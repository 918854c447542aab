"""The client against canned API responses: /rag retrieve-only and the streamed chat route."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx2
import pytest

from evaluation.client import ApiClient, EvalError, Outcome, run_all
from evaluation.variants import Variant, parse_variant
from tests.unit.evaluation.support import question

QUESTION = question("q1", ["doc-a"], ["480"])
RETRIEVED = [
    {
        "collection": "embedded_articles",
        "point_id": "p2",
        "document_id": "doc-b",
        "score": 0.5,
        "rank": 2,
    },
    {
        "collection": "embedded_articles",
        "point_id": "p1",
        "document_id": "doc-a",
        "score": 0.9,
        "rank": 1,
    },
]
SOURCES = [
    {"collection": "embedded_articles", "point_id": "p1", "score": 0.9, "document_id": "doc-a"}
]
LATENCY = {"embed": 4.0, "search": 6.0, "total": 12.0}


def sse(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\n\n" for e in events) + (
        b"data: [DONE]\n\n"
    )


def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "twin",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        **extra,
    }


class FakeApi:
    """Records requests and answers the routes the client calls."""

    def __init__(self, rag_status: int = 200, chat_status: int = 200) -> None:
        self.requests: list[httpx2.Request] = []
        self.rag_status = rag_status
        self.chat_status = chat_status

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        if request.url.path == "/rag":
            if self.rag_status != 200:
                return httpx2.Response(self.rag_status, json={"error": {"message": "bad fusion"}})
            body = {"answer": None, "sources": [], "retrieved": RETRIEVED, "latency_ms": LATENCY}
            return httpx2.Response(200, json=body)
        if request.url.path == "/v1/models":
            return httpx2.Response(
                200,
                json={
                    "object": "list",
                    "data": [{"id": "twin", "object": "model", "created": 1, "owned_by": "me"}],
                },
            )
        if request.url.path == "/v1/chat/completions":
            if self.chat_status != 200:
                error = {"error": {"message": "upstream failed", "type": "server_error"}}
                return httpx2.Response(self.chat_status, json=error)
            events = sse(
                chunk({"role": "assistant", "content": ""}),
                chunk({"content": "The burst "}),
                chunk({"content": "is 480."}),
                chunk({}, "stop", sources=SOURCES, retrieved=RETRIEVED, latency_ms=LATENCY),
            )
            return httpx2.Response(
                200, content=events, headers={"content-type": "text/event-stream"}
            )
        return httpx2.Response(404)

    def bodies(self, path: str) -> list[dict[str, Any]]:
        return [json.loads(r.content) for r in self.requests if r.url.path == path]


def ask(api: FakeApi, method: str, variant: Variant, key: str = "") -> Outcome:
    async def go() -> Outcome:
        client = ApiClient(
            "http://api.test", key, max_tokens=64, transport=httpx2.MockTransport(api)
        )
        try:
            return await getattr(client, method)(QUESTION, variant)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_retrieval_asks_rag_with_retrieve_only_and_the_variants_options() -> None:
    api = FakeApi()
    result = ask(api, "retrieve", parse_variant("fusion=max,k=3"), key="sekrit")
    assert api.bodies("/rag") == [
        {"query": QUESTION.question, "fusion": "max", "k": 3, "retrieve_only": True}
    ]
    assert api.requests[0].headers["x-api-key"] == "sekrit"
    assert api.requests[0].headers["authorization"] == "Bearer sekrit"
    assert [r.document_id for r in result.retrieved] == ["doc-a", "doc-b"]
    assert result.latency_ms == LATENCY
    assert result.answer is None
    assert result.error is None


def test_answers_stream_through_the_sdk_with_the_rag_extension() -> None:
    api = FakeApi()
    result = ask(api, "answer", parse_variant("self_query=on"))
    (body,) = api.bodies("/v1/chat/completions")
    assert body["rag"] == {"self_query": True, "return_retrieved": True}
    assert body["stream"] is True
    assert body["max_tokens"] == 64
    assert body["model"] == "twin"
    assert result.answer == "The burst is 480."
    assert result.ttft_ms is not None
    assert result.ttft_ms <= result.client_ms
    assert [s.document_id for s in result.sources] == ["doc-a"]
    assert [r.rank for r in result.retrieved] == [1, 2]


def test_a_refused_option_stops_the_run_with_the_apis_message() -> None:
    with pytest.raises(EvalError, match=r"refused the request \(422\).*bad fusion"):
        ask(FakeApi(rag_status=422), "retrieve", Variant("default"))
    with pytest.raises(EvalError, match=r"refused the request \(400\)"):
        ask(FakeApi(chat_status=400), "answer", Variant("default"))


def test_a_server_error_is_recorded_for_that_question() -> None:
    assert ask(FakeApi(rag_status=502), "retrieve", Variant("default")).error == (
        'HTTP 502: {"error":{"message":"bad fusion"}}'
    )
    failed = ask(FakeApi(chat_status=500), "answer", Variant("default"))
    assert failed.error is not None
    assert failed.error.startswith("HTTP 500")


def test_run_all_asks_each_question_under_each_variant_within_the_bound() -> None:
    in_flight = 0
    most = 0
    calls = 0

    async def slow(q: Any, v: Variant) -> Outcome:
        nonlocal in_flight, most, calls
        calls += 1
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return Outcome(q.id, v.name)

    questions = [question(f"q{i}", ["A"]) for i in range(6)]
    chosen = [Variant("default"), parse_variant("k=2")]
    outcomes = asyncio.run(run_all(slow, questions, chosen, concurrency=2, progress=False))
    assert calls == 2 * 7  # each variant's warm-up request, then every question
    assert [(o.variant, o.question_id) for o in outcomes] == [
        (v.name, q.id) for v in chosen for q in questions
    ]
    assert most == 2
