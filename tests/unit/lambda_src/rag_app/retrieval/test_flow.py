"""Query expansion and self-query through /rag and chat, with the helper's replies scripted."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag_app.errors import UpstreamFailed

from ...support import (
    AUTHOR_MAXIME,
    AUTHOR_PAUL,
    EMBEDDING_COMPONENT,
    LLM_COMPONENT,
    MODEL_ID,
    FakeSageMaker,
    RecordCollector,
)

QUESTION = "How do RAG systems use retrieval?"
# Words of the app's own helper prompts, to tell the helper calls apart.
EXPAND = "Rewrite the question"
READ_AUTHOR = "Which person"


@pytest.fixture
def fake_app(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[[], FastAPI]
) -> Callable[..., tuple[TestClient, FakeSageMaker, FastAPI]]:
    def build(**env: str) -> tuple[TestClient, FakeSageMaker, FastAPI]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        app = make_app()
        fake = FakeSageMaker(engine="tgi")
        fake.install(app.state.pipeline.runtime)
        return TestClient(app, raise_server_exceptions=False), fake, app

    return build


def rag(client: TestClient, query: str = QUESTION, **options: Any) -> dict[str, Any]:
    response = client.post("/rag", json={"query": query, "return_retrieved": True, **options})
    assert response.status_code == 200, response.text
    return dict(response.json())


def llm_calls(fake: FakeSageMaker, word: str) -> list[Any]:
    return [p for c, p in fake.calls if c == LLM_COMPONENT and word in str(p)]


def embed_inputs(fake: FakeSageMaker) -> list[Any]:
    return [p["inputs"] for c, p in fake.calls if c == EMBEDDING_COMPONENT]


def test_expansion_searches_every_phrasing_from_one_embedding_call(
    fake_app: Callable[..., Any],
) -> None:
    client, fake, _ = fake_app()
    fake.replies[EXPAND] = "1. What role does retrieval play in RAG?\n2. Why does RAG retrieve?"

    body = rag(client, query_expansion=3)

    phrasings = [QUESTION, "What role does retrieval play in RAG?", "Why does RAG retrieve?"]
    assert body["retrieval"]["phrasings"] == phrasings
    assert embed_inputs(fake) == [phrasings]
    [helper] = llm_calls(fake, EXPAND)
    # Greedy, short, and asked for the two rewrites wanted.
    assert helper["parameters"]["do_sample"] is False
    assert helper["parameters"]["max_new_tokens"] == 80
    assert "in 2 different ways" in helper["inputs"]
    assert {"expand", "embed", "search", "fuse", "generate", "total"} <= set(body["latency_ms"])


def test_expansion_off_makes_no_helper_call(fake_app: Callable[..., Any]) -> None:
    client, fake, _ = fake_app(RAG_QUERY_EXPANSION="3")

    body = rag(client, query_expansion=1)

    assert body["retrieval"]["phrasings"] == [QUESTION]
    assert llm_calls(fake, EXPAND) == []
    assert "expand" not in body["latency_ms"]


def test_the_configs_expansion_applies_when_the_request_says_nothing(
    fake_app: Callable[..., Any],
) -> None:
    client, fake, _ = fake_app(RAG_QUERY_EXPANSION="2")
    fake.replies[EXPAND] = "Why does RAG retrieve?"

    body = rag(client)

    assert body["retrieval"]["phrasings"] == [QUESTION, "Why does RAG retrieve?"]


def test_an_empty_expansion_falls_back_to_the_question(fake_app: Callable[..., Any]) -> None:
    client, fake, _ = fake_app()
    fake.replies[EXPAND] = f"  {QUESTION}\n\n"

    body = rag(client, query_expansion=4)

    assert body["retrieval"]["phrasings"] == [QUESTION]
    assert body["retrieval"]["fallbacks"] == ["expand_empty"]
    assert embed_inputs(fake) == [QUESTION]


def test_a_slow_helper_is_cut_at_its_budget_and_the_answer_still_comes(
    fake_app: Callable[..., Any], app_logs: RecordCollector
) -> None:
    client, fake, _ = fake_app(RAG_HELPER_TIMEOUT_S="0.2")
    fake.replies[EXPAND] = "Why does RAG retrieve?"
    calls = 0

    def slow_helper_only() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            time.sleep(1.0)

    fake.on_generate = slow_helper_only

    body = rag(client, query_expansion=2)

    assert body["answer"]
    assert body["retrieval"]["phrasings"] == [QUESTION]
    assert body["retrieval"]["fallbacks"] == ["expand_timeout"]
    [trace] = app_logs.traces()
    assert trace["fallbacks"] == ["expand_timeout"]
    assert trace["phrasings"] == [QUESTION]


def test_a_failing_helper_falls_back_and_is_recorded(
    fake_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _, app = fake_app()

    async def refused(prompt: str, max_new_tokens: int) -> str:
        raise UpstreamFailed("The language model failed.")

    monkeypatch.setattr(app.state.pipeline.retrieval.helper, "ask", refused)

    body = rag(client, query_expansion=3, self_query=True)

    assert body["answer"]
    assert sorted(body["retrieval"]["fallbacks"]) == ["expand_failed", "self_query_failed"]
    assert body["retrieval"]["author"] is None


def test_self_query_filters_on_the_author_named(
    fake_app: Callable[..., Any], app_logs: RecordCollector
) -> None:
    client, fake, _ = fake_app()
    fake.replies[READ_AUTHOR] = "Maxim Labone"

    body = rag(client, "What did Maxim Labone write about retrieval?", self_query=True)

    assert body["retrieval"]["author"] == {
        "name": "Maxime Labonne",
        "author_id": AUTHOR_MAXIME,
        "filtered": True,
    }
    sources = client.post(
        "/rag", json={"query": "What did Maxim Labone write about retrieval?", "self_query": True}
    ).json()["sources"]
    assert {source["author_id"] for source in sources} == {AUTHOR_MAXIME}
    assert "self_query" in body["latency_ms"]
    trace = app_logs.traces()[0]
    assert trace["author"] == "Maxime Labonne"
    assert trace["author_filtered"] is True


def test_the_callers_author_id_wins_over_self_query(fake_app: Callable[..., Any]) -> None:
    client, fake, _ = fake_app(RAG_SELF_QUERY="true")
    fake.replies[READ_AUTHOR] = "Maxime Labonne"

    body = client.post(
        "/rag",
        json={"query": "What did Maxime Labonne write?", "author_id": AUTHOR_PAUL},
    ).json()

    assert {source["author_id"] for source in body["sources"]} == {AUTHOR_PAUL}
    assert llm_calls(fake, READ_AUTHOR) == []


@pytest.mark.parametrize(
    ("question", "reply", "fallback"),
    [
        ("What did Ada Lovelace write?", "Ada Lovelace", "self_query_unknown_author"),
        # The helper invents an author the question never names.
        (QUESTION, "Paul Iusztin", "self_query_not_in_question"),
    ],
)
def test_an_author_that_cannot_filter_leaves_the_search_open(
    fake_app: Callable[..., Any], question: str, reply: str, fallback: str
) -> None:
    client, fake, _ = fake_app()
    fake.replies[READ_AUTHOR] = reply

    body = rag(client, question, self_query=True)

    assert body["retrieval"]["author"]["filtered"] is False
    assert body["retrieval"]["fallbacks"] == [fallback]
    assert len(body["retrieved"]) == 3


def test_no_author_named_is_no_filter_and_no_fallback(fake_app: Callable[..., Any]) -> None:
    client, fake, _ = fake_app()
    fake.replies[READ_AUTHOR] = "NONE"

    body = rag(client, self_query=True)

    assert body["retrieval"]["author"] is None
    assert body["retrieval"]["fallbacks"] == []


def test_expansion_and_self_query_together_through_chat(fake_app: Callable[..., Any]) -> None:
    client, fake, _ = fake_app(RAG_QUERY_EXPANSION="2", RAG_SELF_QUERY="true")
    question = "What does Paul Iusztin say about retrieval?"
    fake.replies[EXPAND] = "How does Paul Iusztin describe retrieval?"
    fake.replies[READ_AUTHOR] = "Paul Iusztin"

    for stream in (False, True):
        response = client.post(
            "/v1/chat/completions",
            json={
                "model": MODEL_ID,
                "messages": [{"role": "user", "content": question}],
                "stream": stream,
                "rag": {"return_retrieved": True},
            },
        )
        assert response.status_code == 200, response.text
    body = client.post(
        "/v1/chat/completions",
        json={
            "model": MODEL_ID,
            "messages": [{"role": "user", "content": question}],
            "rag": {"return_retrieved": True},
        },
    ).json()
    assert body["retrieval"]["phrasings"] == [question, "How does Paul Iusztin describe retrieval?"]
    assert body["retrieval"]["author"]["filtered"] is True
    assert {s["author_id"] for s in body["sources"]} == {AUTHOR_PAUL}
    assert {"expand", "self_query"} <= set(body["latency_ms"])


def test_an_author_without_points_falls_back_to_an_open_search(
    fake_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, fake, app = fake_app()
    fake.replies[READ_AUTHOR] = "Grace Hopper"

    async def stale_names(limit: int) -> list[str]:
        return ["Grace Hopper", "Paul Iusztin"]

    monkeypatch.setattr(app.state.pipeline.retrieval.steps.retriever, "author_names", stale_names)

    body = rag(client, "What did Grace Hopper write about retrieval?", self_query=True)

    assert body["retrieval"]["author"] == {
        "name": "Grace Hopper",
        "author_id": None,
        "filtered": False,
    }
    assert body["retrieval"]["fallbacks"] == ["self_query_no_hits"]
    assert len(body["retrieved"]) == 3


def test_unreadable_authors_leave_the_search_open(
    fake_app: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, fake, app = fake_app()
    fake.replies[READ_AUTHOR] = "Paul Iusztin"

    async def no_index(limit: int) -> list[str]:
        raise UpstreamFailed("The vector store failed to search.")

    monkeypatch.setattr(app.state.pipeline.retrieval.steps.retriever, "author_names", no_index)

    body = rag(client, "What did Paul Iusztin write?", self_query=True)

    assert body["retrieval"]["author"] is None
    assert body["retrieval"]["fallbacks"] == ["self_query_authors_unavailable"]
    assert len(body["retrieved"]) == 3


HELPER_COMPONENT = "twin-helper"
# A helper component on vLLM beside a TGI LLM: its own engine, format and limits.
HELPER = {
    "component": HELPER_COMPONENT,
    "engine": "vllm",
    "prompt_format": "chat",
    "max_input_tokens": 1024,
    "max_new_tokens": 48,
    "stop": ["<|im_end|>"],
}


def helper_app(fake_app: Callable[..., Any], **env: str) -> tuple[TestClient, FakeSageMaker]:
    client, fake, _ = fake_app(RAG_HELPER=json.dumps(HELPER), **env)
    fake.engines[HELPER_COMPONENT] = "vllm"
    return client, fake


def calls_to(fake: FakeSageMaker, component: str) -> list[Any]:
    return [payload for name, payload in fake.calls if name == component]


def test_a_helper_component_takes_every_helper_call_in_its_own_contract(
    fake_app: Callable[..., Any],
) -> None:
    client, fake = helper_app(fake_app)
    fake.replies[EXPAND] = "Why does RAG retrieve?"
    fake.replies[READ_AUTHOR] = "Paul Iusztin"
    question = "What does Paul Iusztin say about retrieval?"

    body = rag(client, question, query_expansion=2, self_query=True)

    helper_calls = calls_to(fake, HELPER_COMPONENT)
    assert len(helper_calls) == 2
    for call in helper_calls:
        # OpenAI chat on vLLM, greedy, within the helper's own room for new tokens.
        assert call["messages"][0]["role"] == "user"
        assert call["temperature"] == 0
        assert call["max_tokens"] <= HELPER["max_new_tokens"]
        assert call["stop"] == HELPER["stop"]
    # The LLM component only answers, in its TGI contract.
    [answer_call] = calls_to(fake, LLM_COMPONENT)
    assert EXPAND not in str(answer_call)
    assert READ_AUTHOR not in str(answer_call)
    assert "inputs" in answer_call
    assert body["retrieval"]["phrasings"] == [question, "Why does RAG retrieve?"]
    assert body["retrieval"]["author"]["filtered"] is True


def test_a_helper_component_at_zero_copies_degrades_to_the_plain_search(
    fake_app: Callable[..., Any], app_logs: RecordCollector
) -> None:
    client, fake = helper_app(fake_app)
    fake.scaled_to_zero.add(HELPER_COMPONENT)

    body = rag(client, query_expansion=3, self_query=True)

    assert body["answer"]
    assert body["retrieval"]["phrasings"] == [QUESTION]
    assert sorted(body["retrieval"]["fallbacks"]) == ["expand_failed", "self_query_failed"]
    # Both helper calls were tried (and refused); the answer still came from the LLM.
    assert len(calls_to(fake, HELPER_COMPONENT)) == 2
    assert len(calls_to(fake, LLM_COMPONENT)) == 1
    [trace] = app_logs.traces()
    assert sorted(trace["fallbacks"]) == ["expand_failed", "self_query_failed"]


def test_without_a_helper_component_the_llm_answers_the_helper_calls(
    fake_app: Callable[..., Any],
) -> None:
    client, fake, _ = fake_app()
    fake.replies[EXPAND] = "Why does RAG retrieve?"

    rag(client, query_expansion=2)

    assert len(llm_calls(fake, EXPAND)) == 1
    assert calls_to(fake, HELPER_COMPONENT) == []
