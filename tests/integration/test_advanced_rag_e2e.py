"""Query expansion and self-query end to end: the real app, the local models and the seeded
store, on each serving engine, buffered and streamed. Nothing here depends on the words the
tiny model writes: a helper that writes nothing useful must fall back, and that is checked."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.integration.conftest import STACK_GROUP, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

QUESTION = "What did Ilse Marrow count on Skerry Holm in 2023?"
SHORT = 16
ON = {"query_expansion": 3, "self_query": True, "return_retrieved": True}
EXPAND_FALLBACKS = {"expand_empty", "expand_timeout", "expand_failed"}


def llm_and_embedding_calls(stack: Stack, before: int) -> tuple[int, int]:
    calls = stack.invocations()[before:]
    return (
        sum(call["component"] == stack.llm for call in calls),
        sum(call["component"] == stack.embedding for call in calls),
    )


def check_report(report: dict[str, Any], *, on: bool) -> None:
    """The retrieval report is consistent whatever the model wrote."""
    retrieval = report["retrieval"]
    phrasings = retrieval["phrasings"]
    fallbacks = set(retrieval["fallbacks"])
    assert phrasings[0] == QUESTION
    assert len(phrasings) == len(set(phrasings)) <= (3 if on else 1)
    if on:
        # Either the tiny model's rewrites were searched, or the fallback says why not.
        assert len(phrasings) > 1 or fallbacks & EXPAND_FALLBACKS
        assert {"expand", "self_query"} <= set(report["latency_ms"])
    else:
        assert fallbacks == set()
        assert not {"expand", "self_query"} & set(report["latency_ms"])
    author = retrieval["author"]
    if author is not None and author["filtered"]:
        assert author["name"] == "Ilse Marrow"
    ranks = [item["rank"] for item in report["retrieved"]]
    assert ranks == list(range(1, len(ranks) + 1))
    assert all(item["document_id"] for item in report["retrieved"])


@pytest.mark.parametrize("on", [True, False], ids=["techniques-on", "techniques-off"])
def test_rag_route(engine_api: httpx.Client, engine_stack: Stack, on: bool) -> None:
    before = len(engine_stack.invocations())
    options = ON if on else {"query_expansion": 1, "self_query": False, "return_retrieved": True}

    response = engine_api.post("/rag", json={"query": QUESTION, "max_new_tokens": SHORT, **options})

    assert response.status_code == 200, response.text
    body = response.json()
    check_report(body, on=on)
    # The two helper calls and the answer; every phrasing embedded in one call.
    assert llm_and_embedding_calls(engine_stack, before) == ((3 if on else 1), 1)


def sse_events(text: str) -> list[dict[str, Any]]:
    return [
        json.loads(line.removeprefix("data: "))
        for line in text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


@pytest.mark.parametrize("stream", [False, True], ids=["buffered", "streamed"])
def test_chat_route(engine_api: httpx.Client, engine_stack: Stack, stream: bool) -> None:
    before = len(engine_stack.invocations())
    body = {
        "model": engine_stack.config.llm.model_id,
        "messages": [{"role": "user", "content": QUESTION}],
        "max_tokens": SHORT,
        "stream": stream,
        "rag": ON,
    }

    response = engine_api.post("/v1/chat/completions", json=body)

    assert response.status_code == 200, response.text
    if stream:
        [report] = [event for event in sse_events(response.text) if "sources" in event]
    else:
        report = response.json()
    check_report(report, on=True)
    if stream:
        assert "first_token" in report["latency_ms"]
    assert llm_and_embedding_calls(engine_stack, before) == (3, 1)


def test_retrieve_only_calls_only_the_helpers(
    engine_api: httpx.Client, engine_stack: Stack
) -> None:
    before = len(engine_stack.invocations())

    response = engine_api.post(
        "/rag", json={"query": QUESTION, "retrieve_only": True, "query_expansion": 2}
    )

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] is None
    assert body["retrieved"]
    assert "generate" not in body["latency_ms"]
    assert llm_and_embedding_calls(engine_stack, before) == (1, 1)
