"""The benches' streamed-answer timer against a canned chat stream: what counts as a token."""

from __future__ import annotations

import json
from typing import Any

import httpx

from bench.local_stack import event_content, time_streamed_answer

REPORT = {"retrieval": {"fallbacks": []}, "latency_ms": {"expand": 12.0}}


def chunk(delta: dict[str, Any]) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": delta}]}


def stream(*events: dict[str, Any]) -> bytes:
    lines = [f"data: {json.dumps(event)}\n\n" for event in events]
    return "".join([*lines, "data: [DONE]\n\n"]).encode()


def test_the_timer_counts_content_chunks_and_keeps_the_report_and_request_id() -> None:
    sent: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(json.loads(request.content))
        body = stream(
            chunk({"role": "assistant", "content": ""}),
            chunk({"content": "Forty"}),
            chunk({"content": " moths."}),
            {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
            REPORT,
        )
        return httpx.Response(200, content=body, headers={"x-request-id": "req-1"})

    with httpx.Client(transport=httpx.MockTransport(answer), base_url="http://api") as api:
        timing = time_streamed_answer(api, "twin", "How many?", max_tokens=8, rag={"k": 1})

    assert timing.tokens == 2
    assert 0 < timing.first_s <= timing.total_s
    assert timing.request_id == "req-1"
    assert timing.report == REPORT
    assert sent[0]["rag"] == {"k": 1}
    assert sent[0]["max_tokens"] == 8
    assert sent[0]["temperature"] == 0
    assert sent[0]["stream"] is True


def test_a_stream_without_content_has_no_first_token_and_no_report() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=stream(chunk({"role": "assistant", "content": ""})))

    with httpx.Client(transport=httpx.MockTransport(answer), base_url="http://api") as api:
        timing = time_streamed_answer(api, "twin", "Anything?", max_tokens=8)

    assert (timing.tokens, timing.first_s, timing.report) == (0, 0.0, {})
    assert timing.tokens_per_s == 0.0


def test_event_content_reads_tgi_tokens_and_openai_chunks() -> None:
    assert event_content({"token": {"text": "Hi", "special": False}}) == "Hi"
    assert event_content({"token": {"text": "</s>", "special": True}}) == ""
    assert event_content({"choices": [{"text": "Hi"}]}) == "Hi"
    assert event_content(chunk({"content": "Hi"})) == "Hi"
    assert event_content(REPORT) == ""
