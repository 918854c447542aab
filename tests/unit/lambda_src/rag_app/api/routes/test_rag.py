"""POST /rag through FastAPI's TestClient: the happy path, request bounds, upstream failures."""

from __future__ import annotations

import asyncio
import json
import math
import threading
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from botocore.stub import Stubber
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag_app.schemas import MAX_BODY_BYTES, MAX_QUERY_CHARS
from rag_app.services import sagemaker_runtime

from ....support import (
    ARTICLE_DOC,
    AUTHOR_MAXIME,
    AUTHOR_PAUL,
    EMBEDDING_COMPONENT,
    LLM_COMPONENT,
    RERANKER_COMPONENT,
    FakeSageMaker,
    HttpResponse,
    RecordCollector,
    content_of,
    expect_embedding,
    expected_prompt,
    invoke_params,
    invoke_response,
    point_id_of,
    tgi_answer,
    tgi_request,
)

QUERY = "How do RAG systems use retrieval?"
NO_CAPACITY = (
    "Inference Component has no capacity to process this request. ApplicationAutoScaling "
    "may be in-progress (if configured) or try to increase the capacity by invoking "
    "UpdateInferenceComponentRuntimeConfig API."
)
TOP_THREE = [
    ("embedded_articles", 0),
    ("embedded_posts", 0),
    ("embedded_repositories", 0),
]


def expect_generation(stubber: Stubber, prompt: str, answer: Any, **overrides: Any) -> None:
    stubber.add_response(
        "invoke_endpoint",
        invoke_response(answer),
        invoke_params(LLM_COMPONENT, tgi_request(prompt, **overrides)),
    )


def top_three_prompt(query: str = QUERY) -> str:
    return expected_prompt(query, [content_of(*ref) for ref in TOP_THREE])


def assert_error(response: HttpResponse, status: int, code: str) -> dict[str, Any]:
    """The response is our JSON error shape with this status and code; returns `error`."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    # No internal names leak: component, endpoint, collection names stay in the logs.
    for internal in (LLM_COMPONENT, EMBEDDING_COMPONENT, "twin-endpoint", "embedded_posts"):
        assert internal not in error["message"]
    return dict(error)


def assert_upstreams_untouched(app: FastAPI) -> None:
    assert not app.state.pipeline.runtime.opened
    assert not app.state.pipeline.store.opened


def test_answers_with_the_top_k_deduplicated_sources(
    client: TestClient, sagemaker: Stubber, app_logs: RecordCollector
) -> None:
    prompt = top_three_prompt()
    expect_embedding(sagemaker, QUERY)
    expect_generation(sagemaker, prompt, tgi_answer(" RAG retrieves context first. ", 7))

    response = client.post("/rag", json={"query": QUERY})

    sagemaker.assert_no_pending_responses()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"] == "RAG retrieves context first."
    # The posts' copy of the article chunk (score 0.85) is a duplicate: it is gone.
    assert [source["point_id"] for source in body["sources"]] == [
        point_id_of(*ref) for ref in TOP_THREE
    ]
    assert body["sources"][0] == {
        "collection": "embedded_articles",
        "point_id": point_id_of("embedded_articles", 0),
        "score": pytest.approx(0.9, abs=1e-4),
        "platform": "medium",
        "link": "https://medium.com/@paul/rag-systems",
        "author_id": AUTHOR_PAUL,
        "author_full_name": "Paul Iusztin",
        "document_id": ARTICLE_DOC,
    }
    assert body["sources"][1]["link"] is None
    [trace] = app_logs.traces()
    assert trace["request_id"] == response.headers["x-request-id"]
    assert trace["query"] == QUERY
    assert trace["prompt"] == prompt
    assert trace["answer"] == "RAG retrieves context first."
    assert trace["generated_tokens"] == 7
    assert trace["prompt_tokens_estimate"] == -(-len(prompt) // 3)
    assert [ref["point_id"] for ref in trace["retrieved"]] == [
        point_id_of(*ref) for ref in TOP_THREE
    ]
    assert set(trace["latency_ms"]) == {"embed", "search", "generate", "total"}
    assert trace["error_code"] is None


def test_applies_k_author_filter_and_generation_overrides(
    client: TestClient, sagemaker: Stubber
) -> None:
    prompt = expected_prompt(
        QUERY, [content_of("embedded_repositories", 0), content_of("embedded_articles", 1)]
    )
    expect_embedding(sagemaker, QUERY)
    expect_generation(
        sagemaker, prompt, tgi_answer("Maxime says so."), max_new_tokens=50, temperature=0.7
    )

    response = client.post(
        "/rag",
        json={
            "query": QUERY,
            "k": 5,
            "author_id": AUTHOR_MAXIME,
            "max_new_tokens": 50,
            "temperature": 0.7,
        },
    )

    sagemaker.assert_no_pending_responses()
    assert response.status_code == 200, response.text
    sources = response.json()["sources"]
    assert [source["author_id"] for source in sources] == [AUTHOR_MAXIME, AUTHOR_MAXIME]
    assert [source["point_id"] for source in sources] == [
        point_id_of("embedded_repositories", 0),
        point_id_of("embedded_articles", 1),
    ]


def test_k_limits_the_sources(client: TestClient, sagemaker: Stubber) -> None:
    expect_embedding(sagemaker, QUERY)
    prompt = expected_prompt(QUERY, [content_of("embedded_articles", 0)])
    expect_generation(sagemaker, prompt, tgi_answer("One source."))

    response = client.post("/rag", json={"query": QUERY, "k": 1})

    assert response.status_code == 200, response.text
    assert len(response.json()["sources"]) == 1


def test_reranker_reorders_candidates_before_top_k(
    make_app: Callable[[], FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_RERANKER_COMPONENT", RERANKER_COMPONENT)
    app = make_app()
    stubber = Stubber(app.state.pipeline.runtime.client)
    candidates = [
        ("embedded_articles", 0),
        ("embedded_posts", 0),
        ("embedded_repositories", 0),
        ("embedded_articles", 1),
    ]
    texts = [content_of(*ref) for ref in candidates]
    expect_embedding(stubber, QUERY)
    # The reranker likes the weakest vector hit best and the best one least.
    stubber.add_response(
        "invoke_endpoint",
        invoke_response(
            [
                {"index": 3, "score": 0.99},
                {"index": 2, "score": 0.8},
                {"index": 1, "score": 0.4},
                {"index": 0, "score": 0.01},
            ]
        ),
        invoke_params(RERANKER_COMPONENT, {"query": QUERY, "texts": texts, "truncate": True}),
    )
    reranked = [candidates[3], candidates[2], candidates[1]]
    prompt = expected_prompt(QUERY, [content_of(*ref) for ref in reranked])
    expect_generation(stubber, prompt, tgi_answer("Reranked."))

    with stubber, TestClient(app) as client:
        response = client.post("/rag", json={"query": QUERY})
        stubber.assert_no_pending_responses()

    assert response.status_code == 200, response.text
    sources = response.json()["sources"]
    assert [source["point_id"] for source in sources] == [point_id_of(*ref) for ref in reranked]
    assert [source["score"] for source in sources] == [0.99, 0.8, 0.4]


def test_context_is_trimmed_to_the_input_budget(
    make_app: Callable[[], FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_MAX_INPUT_TOKENS", "60")
    app = make_app()
    stubber = Stubber(app.state.pipeline.runtime.client)
    expect_embedding(stubber, QUERY)
    # budget = max_input_tokens - estimate(template + query); 3 characters per token.
    frame_tokens = math.ceil(len(expected_prompt(QUERY, [])) / 3)
    room = (60 - frame_tokens) * 3
    first = content_of("embedded_articles", 0)
    second = content_of("embedded_posts", 0)
    kept_of_second = room - len(first) - len("\n\n---\n\n")
    assert 0 < kept_of_second < len(second)
    prompt = expected_prompt(QUERY, [first, second[:kept_of_second]])
    expect_generation(stubber, prompt, tgi_answer("Short."), truncate=60)

    with stubber, TestClient(app) as client:
        response = client.post("/rag", json={"query": QUERY})
        stubber.assert_no_pending_responses()

    assert response.status_code == 200, response.text
    assert len(response.json()["sources"]) == 2


def test_concurrent_requests_reach_the_upstream_together(
    app: FastAPI, fake_sagemaker: FakeSageMaker
) -> None:
    # A barrier in the fake LLM only opens once 8 generations are in flight at the same time:
    # if blocking calls serialized the requests, it would break instead.
    barrier = threading.Barrier(8, timeout=10)
    fake_sagemaker.on_generate = barrier.wait

    async def eight_clients() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rag") as client:
            requests = [client.post("/rag", json={"query": f"question {i}"}) for i in range(8)]
            return await asyncio.gather(*requests)

    responses = asyncio.run(eight_clients())

    assert [response.status_code for response in responses] == [200] * 8
    assert not barrier.broken


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "query"),
        ({"query": ""}, "query"),
        ({"query": "   \n\t "}, "query"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "query"),
        ({"query": 42}, "query"),
        ({"query": ["a list"]}, "query"),
        ({"query": None}, "query"),
        ({"query": QUERY, "k": "3"}, "k"),
        ({"query": QUERY, "k": 0}, "k"),
        ({"query": QUERY, "k": 21}, "k"),
        ({"query": QUERY, "k": True}, "k"),
        ({"query": QUERY, "k": 2.5}, "k"),
        ({"query": QUERY, "temperature": 0}, "temperature"),
        ({"query": QUERY, "temperature": "hot"}, "temperature"),
        ({"query": QUERY, "max_new_tokens": 0}, "max_new_tokens"),
        ({"query": QUERY, "author_id": ""}, "author_id"),
        ({"query": QUERY, "author_id": 7}, "author_id"),
        ({"query": QUERY, "stream": True}, "stream"),
        (["not", "an", "object"], "body"),
    ],
)
def test_invalid_requests_are_422_naming_the_field(
    client: TestClient, app: FastAPI, body: Any, field: str
) -> None:
    response = client.post("/rag", json=body)

    error = assert_error(response, 422, "invalid_request")
    assert_upstreams_untouched(app)
    assert f"{field}:" in error["message"]
    # The rejected value is not echoed back.
    assert "hot" not in error["message"]
    assert "x" * 50 not in error["message"]


def test_not_json_is_422(client: TestClient, app: FastAPI) -> None:
    response = client.post(
        "/rag", content=b'{"query": "unterminated', headers={"content-type": "application/json"}
    )

    assert_error(response, 422, "invalid_request")
    assert_upstreams_untouched(app)


def test_max_new_tokens_above_the_configured_limit_is_422(client: TestClient, app: FastAPI) -> None:
    response = client.post("/rag", json={"query": QUERY, "max_new_tokens": 151})

    error = assert_error(response, 422, "invalid_request")
    assert "max_new_tokens must be at most 150" in error["message"]
    assert_upstreams_untouched(app)


def test_body_over_the_limit_is_413(client: TestClient, app: FastAPI) -> None:
    response = client.post("/rag", json={"query": "x" * (MAX_BODY_BYTES + 1)})

    error = assert_error(response, 413, "payload_too_large")
    assert str(MAX_BODY_BYTES) in error["message"]
    assert_upstreams_untouched(app)


def add_llm_error(stubber: Stubber, code: str, message: str, status: int) -> None:
    """Embedding succeeds, then the LLM component answers with this AWS error."""
    expect_embedding(stubber, QUERY)
    stubber.add_client_error(
        "invoke_endpoint",
        service_error_code=code,
        service_message=message,
        http_status_code=status,
    )


@pytest.mark.parametrize(
    ("code", "message", "status", "retry_after"),
    [
        ("ValidationError", NO_CAPACITY, 400, "60"),
        ("ValidationError", "Inference component HAS NO CAPACITY yet", 400, "60"),
        ("ModelNotReadyException", "Model is not ready to serve requests", 429, "60"),
        ("ServiceUnavailable", "Service is unavailable", 503, "60"),
    ],
)
def test_llm_without_capacity_is_503_with_retry_after(
    client: TestClient,
    sagemaker: Stubber,
    app_logs: RecordCollector,
    code: str,
    message: str,
    status: int,
    retry_after: str,
) -> None:
    add_llm_error(sagemaker, code, message, status)

    response = client.post("/rag", json={"query": QUERY})

    error = assert_error(response, 503, "model_not_ready")
    assert response.headers["retry-after"] == retry_after
    assert "language model" in error["message"]
    assert message not in response.text
    # The AWS message is in the logs for whoever investigates.
    assert any(message in str(getattr(r, "detail", "")) for r in app_logs.records)
    [trace] = app_logs.traces()
    assert trace["error_code"] == "model_not_ready"


def test_throttled_llm_is_503_with_retry_after(client: TestClient, sagemaker: Stubber) -> None:
    add_llm_error(sagemaker, "ThrottlingException", "Rate exceeded", 400)

    response = client.post("/rag", json={"query": QUERY})

    assert_error(response, 503, "model_busy")
    assert response.headers["retry-after"] == "5"


@pytest.mark.parametrize(
    ("code", "message", "status"),
    [
        ("ModelError", "Received client error (422) from primary with message ...", 424),
        ("InternalFailure", "An internal failure occurred", 500),
        ("ValidationError", "Inference component twin-llm not found", 400),
    ],
)
def test_failing_llm_is_502(
    client: TestClient, sagemaker: Stubber, code: str, message: str, status: int
) -> None:
    add_llm_error(sagemaker, code, message, status)

    response = client.post("/rag", json={"query": QUERY})

    assert_error(response, 502, "upstream_error")
    assert "Retry-After" not in response.headers


@pytest.mark.parametrize(
    "embedding_answer",
    [
        b"<html><body>502 Bad Gateway</body></html>",
        b"",
        {"error": "Input validation error", "error_type": "validation"},
        [],
        [[]],
        [["0.1", "0.2"]],
        b"[[0.1, NaN]]",
    ],
    ids=["html", "empty", "error-object", "no-vectors", "empty-vector", "strings", "nan"],
)
def test_garbage_from_the_embedder_is_502(
    client: TestClient, sagemaker: Stubber, embedding_answer: Any
) -> None:
    sagemaker.add_response("invoke_endpoint", invoke_response(embedding_answer))

    response = client.post("/rag", json={"query": QUERY})

    error = assert_error(response, 502, "upstream_error")
    assert "embedding model" in error["message"]


@pytest.mark.parametrize(
    "llm_answer",
    [
        b"not json at all",
        [],
        [{"generated": "wrong key"}],
        [{"generated_text": 42}],
        {"error": "Request failed during generation"},
    ],
)
def test_garbage_from_the_llm_is_502(
    client: TestClient, sagemaker: Stubber, llm_answer: Any
) -> None:
    expect_embedding(sagemaker, QUERY)
    sagemaker.add_response("invoke_endpoint", invoke_response(llm_answer))

    response = client.post("/rag", json={"query": QUERY})

    error = assert_error(response, 502, "upstream_error")
    assert "language model" in error["message"]


@pytest.fixture
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clients made from here on fail on the first attempt (keeps the tests quick)."""
    monkeypatch.setattr(sagemaker_runtime, "MAX_RETRIES", 0)


def test_unreachable_sagemaker_is_502(
    make_app: Callable[[], FastAPI],
    monkeypatch: pytest.MonkeyPatch,
    closed_port: int,
    no_retries: None,
) -> None:
    # The same standard variable local mode uses: nothing in the app special-cases it.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{closed_port}")

    with TestClient(make_app()) as client:
        response = client.post("/rag", json={"query": QUERY})

    error = assert_error(response, 502, "upstream_error")
    assert "could not be reached" in error["message"]


def test_sagemaker_read_timeout_is_504(
    make_app: Callable[[], FastAPI],
    monkeypatch: pytest.MonkeyPatch,
    silent_server: str,
    no_retries: None,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", silent_server)
    app = make_app()
    app.state.pipeline.runtime.read_timeout_s = 0.3

    with TestClient(app) as client:
        response = client.post("/rag", json={"query": QUERY})

    error = assert_error(response, 504, "upstream_timeout")
    assert "embedding model did not answer in time" in error["message"]


def test_unreachable_qdrant_is_502(
    make_app: Callable[[], FastAPI], monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.delenv("RAG_QDRANT_PATH")
    monkeypatch.setenv("RAG_QDRANT_URL", f"http://127.0.0.1:{closed_port}")
    app = make_app()
    stubber = Stubber(app.state.pipeline.runtime.client)
    expect_embedding(stubber, QUERY)

    with stubber, TestClient(app) as client:
        response = client.post("/rag", json={"query": QUERY})

    error = assert_error(response, 502, "upstream_error")
    assert "vector store" in error["message"]


def test_qdrant_timeout_is_504(
    make_app: Callable[[], FastAPI], monkeypatch: pytest.MonkeyPatch, silent_server: str
) -> None:
    monkeypatch.delenv("RAG_QDRANT_PATH")
    monkeypatch.setenv("RAG_QDRANT_URL", silent_server)
    app = make_app()
    app.state.pipeline.store.timeout_s = 1
    stubber = Stubber(app.state.pipeline.runtime.client)
    expect_embedding(stubber, QUERY)

    with stubber, TestClient(app) as client:
        response = client.post("/rag", json={"query": QUERY})

    error = assert_error(response, 504, "upstream_timeout")
    assert "vector store did not answer in time" in error["message"]


def test_missing_collection_is_502(
    make_app: Callable[[], FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_COLLECTIONS", '["embedded_articles", "embedded_videos"]')
    app = make_app()
    stubber = Stubber(app.state.pipeline.runtime.client)
    expect_embedding(stubber, QUERY)

    with stubber, TestClient(app) as client:
        response = client.post("/rag", json={"query": QUERY})

    assert_error(response, 502, "upstream_error")


def test_deadline_is_504_without_waiting_for_the_upstream(
    make_app: Callable[[], FastAPI], monkeypatch: pytest.MonkeyPatch, app_logs: RecordCollector
) -> None:
    # Long enough for embedding and search on a busy machine; the generation never ends.
    monkeypatch.setenv("RAG_REQUEST_TIMEOUT_S", "2")
    app = make_app()
    release = threading.Event()
    finished = threading.Event()

    def stuck_generation() -> None:
        # Holds the LLM call until the test has its answer: the deadline must not wait for it.
        release.wait(timeout=30)
        finished.set()

    fake = FakeSageMaker()
    fake.install(app.state.pipeline.runtime)
    fake.on_generate = stuck_generation

    with TestClient(app) as client:
        response = client.post("/rag", json={"query": QUERY})
        upstream_finished_first = finished.is_set()
        release.set()

    error = assert_error(response, 504, "deadline_exceeded")
    assert "2 s" in error["message"]
    assert not upstream_finished_first
    [trace] = app_logs.traces()
    assert trace["error_code"] == "deadline_exceeded"
    assert {"embed", "search", "generate", "total"} <= set(trace["latency_ms"])


def test_unexpected_error_is_a_generic_500(
    client: TestClient,
    app: FastAPI,
    monkeypatch: pytest.MonkeyPatch,
    app_logs: RecordCollector,
) -> None:
    async def broken(*_: Any) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(app.state.pipeline, "answer", broken)

    response = client.post("/rag", json={"query": QUERY})

    error = assert_error(response, 500, "internal_error")
    assert "secret internal detail" not in response.text
    assert "unhandled error" in app_logs.messages()
    assert error["message"] == "The server failed to answer; the error was logged."


@pytest.mark.parametrize("prompt_format", ["template", "chat"])
def test_vllm_engine_gets_the_openai_contract_byte_for_byte(
    make_app: Callable[[], FastAPI], monkeypatch: pytest.MonkeyPatch, prompt_format: str
) -> None:
    monkeypatch.setenv("RAG_LLM_ENGINE", "vllm")
    monkeypatch.setenv("RAG_PROMPT_FORMAT", prompt_format)
    if prompt_format == "chat":
        monkeypatch.delenv("RAG_PROMPT_TEMPLATE")
        monkeypatch.setenv("RAG_SYSTEM_PROMPT", "Context:\n{context}")
    app = make_app()
    stubber = Stubber(app.state.pipeline.runtime.client)
    expect_embedding(stubber, QUERY)
    context = "\n\n---\n\n".join(content_of(*ref) for ref in TOP_THREE)
    model_input: dict[str, Any] = (
        {"prompt": top_three_prompt()}
        if prompt_format == "template"
        else {
            "messages": [
                {"role": "system", "content": f"Context:\n{context}"},
                {"role": "user", "content": QUERY},
            ]
        }
    )
    sent = {
        **model_input,
        "max_tokens": 150,
        "temperature": 0.01,
        "stop": ["<|eot_id|>"],
        "top_p": 0.9,
        "repetition_penalty": 1.1,
        "truncate_prompt_tokens": 2048,
    }
    chat = prompt_format == "chat"
    choice = (
        {"message": {"role": "assistant", "content": " From vLLM. "}, "finish_reason": "stop"}
        if chat
        else {"text": " From vLLM. ", "finish_reason": "stop"}
    )
    stubber.add_response(
        "invoke_endpoint",
        invoke_response({"choices": [choice], "usage": {"prompt_tokens": 90}}),
        {
            "EndpointName": "twin-endpoint",
            "InferenceComponentName": LLM_COMPONENT,
            "ContentType": "application/json",
            "Accept": "application/json",
            # The exact bytes: key order and separators as the app writes them.
            "Body": json.dumps(sent).encode(),
        },
    )

    with stubber, TestClient(app) as client:
        response = client.post("/rag", json={"query": QUERY})
        stubber.assert_no_pending_responses()

    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "From vLLM."


@pytest.mark.parametrize(
    ("code", "status", "expected_status", "expected_code"),
    [
        ("ModelError", 424, 502, "upstream_error"),
        ("ThrottlingException", 400, 503, "model_busy"),
        ("ModelNotReadyException", 429, 503, "model_not_ready"),
    ],
)
def test_vllm_engine_errors_map_as_tgis_do(
    make_app: Callable[[], FastAPI],
    monkeypatch: pytest.MonkeyPatch,
    code: str,
    status: int,
    expected_status: int,
    expected_code: str,
) -> None:
    monkeypatch.setenv("RAG_LLM_ENGINE", "vllm")
    app = make_app()
    stubber = Stubber(app.state.pipeline.runtime.client)
    add_llm_error(stubber, code, "upstream said no", status)

    with stubber, TestClient(app) as client:
        response = client.post("/rag", json={"query": QUERY})

    assert_error(response, expected_status, expected_code)


def test_garbage_from_a_vllm_llm_is_502(
    make_app: Callable[[], FastAPI], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_LLM_ENGINE", "vllm")
    app = make_app()
    stubber = Stubber(app.state.pipeline.runtime.client)
    expect_embedding(stubber, QUERY)
    # vLLM's own error body, answered with a 2xx by a misbehaving proxy.
    stubber.add_response(
        "invoke_endpoint", invoke_response({"error": {"message": "x", "code": 400}})
    )

    with stubber, TestClient(app) as client:
        response = client.post("/rag", json={"query": QUERY})

    assert_error(response, 502, "upstream_error")


def test_tgi_engine_gets_its_generate_contract_byte_for_byte(
    client: TestClient, sagemaker: Stubber
) -> None:
    expect_embedding(sagemaker, QUERY)
    sent = {
        "inputs": top_three_prompt(),
        "parameters": {
            "max_new_tokens": 150,
            "repetition_penalty": 1.1,
            "do_sample": True,
            "return_full_text": False,
            "stop": ["<|eot_id|>"],
            "details": True,
            "truncate": 2048,
            "temperature": 0.01,
            "top_p": 0.9,
        },
    }
    sagemaker.add_response(
        "invoke_endpoint",
        invoke_response(tgi_answer("From TGI.")),
        {
            "EndpointName": "twin-endpoint",
            "InferenceComponentName": LLM_COMPONENT,
            "ContentType": "application/json",
            "Accept": "application/json",
            "Body": json.dumps(sent).encode(),
        },
    )

    response = client.post("/rag", json={"query": QUERY})

    sagemaker.assert_no_pending_responses()
    assert response.status_code == 200, response.text
    assert response.json()["answer"] == "From TGI."
