"""Per-request retrieval options on /rag and the chat route, and the retrieval report."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ....support import (
    ARTICLE_DOC,
    EMBEDDING_COMPONENT,
    LLM_COMPONENT,
    MODEL_ID,
    RERANKER_COMPONENT,
    FakeSageMaker,
    point_id_of,
)

QUESTION = "How do RAG systems use retrieval?"
REPORT_KEYS = {"retrieved", "retrieval", "latency_ms"}


@pytest.fixture
def fake_app(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[[], FastAPI]
) -> Callable[..., tuple[TestClient, FakeSageMaker]]:
    def build(*, reranker: bool = False) -> tuple[TestClient, FakeSageMaker]:
        if reranker:
            monkeypatch.setenv("RAG_RERANKER_COMPONENT", RERANKER_COMPONENT)
        app = make_app()
        fake = FakeSageMaker(engine="tgi")
        fake.install(app.state.pipeline.runtime)
        return TestClient(app, raise_server_exceptions=False), fake

    return build


def components(fake: FakeSageMaker) -> list[str]:
    return [component for component, _ in fake.calls]


def test_sources_carry_the_document_id(fake_app: Callable[..., Any]) -> None:
    client, _ = fake_app()

    body = client.post("/rag", json={"query": QUESTION}).json()

    assert body["sources"][0]["document_id"] == ARTICLE_DOC
    assert not REPORT_KEYS & set(body)


def test_return_retrieved_reports_the_ranked_list_choices_and_latencies(
    fake_app: Callable[..., Any],
) -> None:
    client, _ = fake_app()

    response = client.post("/rag", json={"query": QUESTION, "k": 2, "return_retrieved": True})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"]
    assert [item["rank"] for item in body["retrieved"]] == [1, 2]
    assert body["retrieved"][0] == {
        "collection": "embedded_articles",
        "point_id": point_id_of("embedded_articles", 0),
        "document_id": ARTICLE_DOC,
        "score": pytest.approx(0.9, abs=1e-4),
        "rank": 1,
    }
    assert body["retrieval"] == {"phrasings": [QUESTION], "author": None, "fallbacks": []}
    assert set(body["latency_ms"]) == {"embed", "search", "generate", "total"}


def test_retrieve_only_makes_no_llm_call(fake_app: Callable[..., Any]) -> None:
    client, fake = fake_app()

    response = client.post("/rag", json={"query": QUESTION, "retrieve_only": True})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] is None
    assert body["sources"] == []
    assert len(body["retrieved"]) == 3
    assert set(body["latency_ms"]) == {"embed", "search", "total"}
    assert LLM_COMPONENT not in components(fake)


def test_rerank_false_skips_the_reranker(fake_app: Callable[..., Any]) -> None:
    client, fake = fake_app(reranker=True)

    client.post("/rag", json={"query": QUESTION, "rerank": False})
    assert RERANKER_COMPONENT not in components(fake)
    client.post("/rag", json={"query": QUESTION})
    assert RERANKER_COMPONENT in components(fake)


def test_rerank_true_without_a_reranker_is_refused_before_any_call(
    fake_app: Callable[..., Any],
) -> None:
    client, fake = fake_app()

    response = client.post("/rag", json={"query": QUESTION, "rerank": True})

    assert response.status_code == 422
    assert "rerank" in response.json()["error"]["message"]
    assert fake.calls == []


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("query_expansion", 0),
        ("query_expansion", 6),
        ("query_expansion", "3"),
        ("self_query", "yes"),
        ("fusion", "sum"),
        ("rerank", 1),
        ("return_retrieved", None),
        ("retrieve_only", "true"),
    ],
)
def test_bad_options_are_422_naming_the_field(
    fake_app: Callable[..., Any], option: str, value: Any
) -> None:
    client, fake = fake_app()

    response = client.post("/rag", json={"query": QUESTION, option: value})

    assert response.status_code == 422
    assert option in response.json()["error"]["message"]
    assert fake.calls == []


def chat_body(**rag: Any) -> dict[str, Any]:
    return {
        "model": MODEL_ID,
        "messages": [{"role": "user", "content": QUESTION}],
        "rag": rag,
    }


def test_chat_reports_beside_the_sources(fake_app: Callable[..., Any]) -> None:
    client, _ = fake_app()

    body = client.post("/v1/chat/completions", json=chat_body(return_retrieved=True)).json()

    assert body["sources"][0]["document_id"] == ARTICLE_DOC
    assert [item["rank"] for item in body["retrieved"]] == [1, 2, 3]
    assert body["retrieval"]["phrasings"] == [QUESTION]
    assert {"embed", "search", "generate", "first_token", "total"} <= set(body["latency_ms"])


def test_chat_without_the_option_has_no_report(fake_app: Callable[..., Any]) -> None:
    client, _ = fake_app()

    body = client.post("/v1/chat/completions", json=chat_body()).json()

    assert not REPORT_KEYS & set(body)


def test_chat_retrieve_only_is_an_empty_completion(fake_app: Callable[..., Any]) -> None:
    client, fake = fake_app()

    response = client.post("/v1/chat/completions", json=chat_body(retrieve_only=True))

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["choices"][0]["message"]["content"] == ""
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    assert body["sources"] == []
    assert len(body["retrieved"]) == 3
    assert components(fake) == [EMBEDDING_COMPONENT]


def sse_events(text: str) -> list[Any]:
    return [
        json.loads(line[len("data: ") :])
        for line in text.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


@pytest.mark.parametrize("retrieve_only", [False, True])
def test_streamed_chat_reports_on_the_chunk_with_the_sources(
    fake_app: Callable[..., Any], retrieve_only: bool
) -> None:
    client, _ = fake_app()
    body = chat_body(return_retrieved=True, retrieve_only=retrieve_only) | {"stream": True}

    response = client.post("/v1/chat/completions", json=body)

    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    [last] = [event for event in events if "sources" in event]
    assert last["choices"][0]["finish_reason"] == "stop"
    assert [item["rank"] for item in last["retrieved"]] == [1, 2, 3]
    assert last["retrieval"]["fallbacks"] == []
    assert "total" in last["latency_ms"]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert (text == "") is retrieve_only
    assert not any(REPORT_KEYS & set(event) for event in events if "sources" not in event)


def test_chat_bad_option_is_400_naming_it(fake_app: Callable[..., Any]) -> None:
    client, fake = fake_app()

    response = client.post("/v1/chat/completions", json=chat_body(fusion="sum"))

    assert response.status_code == 400
    assert "fusion" in json.dumps(response.json())
    assert fake.calls == []
