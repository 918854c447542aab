"""The Lambda entry point driven by real API Gateway REST (v1) proxy events through Mangum."""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from botocore.stub import Stubber
from mangum import Mangum

from rag_app.log import logger

from ..support import (
    LLM_COMPONENT,
    LambdaContext,
    RecordCollector,
    api_gateway_event,
    content_of,
    expect_embedding,
    expected_prompt,
    invoke_params,
    invoke_response,
    point_id_of,
    tgi_answer,
    tgi_request,
)

QUERY = "Write a LinkedIn post about RAG retrieval."
REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"


@pytest.fixture
def handler_module(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    """`rag_app.handler` imported afresh, as a new Lambda container would."""
    monkeypatch.delitem(sys.modules, "rag_app.handler", raising=False)
    module = importlib.import_module("rag_app.handler")
    yield module
    module.app.state.pipeline.store.close()
    sys.modules.pop("rag_app.handler", None)
    # Mangum made this loop the thread's current one when the module was imported.
    asyncio.get_event_loop().close()
    asyncio.set_event_loop(None)


@pytest.fixture
def stubbed(handler_module: ModuleType) -> Iterator[Stubber]:
    with Stubber(handler_module.app.state.pipeline.runtime.client) as stubber:
        yield stubber


def invoke(module: ModuleType, event: dict[str, Any]) -> dict[str, Any]:
    response: dict[str, Any] = module.handler(event, LambdaContext())
    return response


def test_handler_is_mangum_around_the_app(handler_module: ModuleType) -> None:
    assert isinstance(handler_module.handler, Mangum)
    assert handler_module.handler.app is handler_module.app


def test_rag_event_answers_with_sources(handler_module: ModuleType, stubbed: Stubber) -> None:
    refs = [("embedded_articles", 0), ("embedded_posts", 0), ("embedded_repositories", 0)]
    prompt = expected_prompt(QUERY, [content_of(*ref) for ref in refs])
    expect_embedding(stubbed, QUERY)
    stubbed.add_response(
        "invoke_endpoint",
        invoke_response(tgi_answer("Retrieval is where RAG wins or loses.")),
        invoke_params(LLM_COMPONENT, tgi_request(prompt)),
    )

    response = invoke(
        handler_module, api_gateway_event("POST", "/rag", {"query": QUERY}, request_id=REQUEST_ID)
    )

    stubbed.assert_no_pending_responses()
    assert response["statusCode"] == 200, response["body"]
    assert response["isBase64Encoded"] is False
    assert response["headers"]["content-type"] == "application/json"
    assert response["headers"]["x-request-id"] == REQUEST_ID
    body = json.loads(response["body"])
    assert body["answer"] == "Retrieval is where RAG wins or loses."
    assert [source["point_id"] for source in body["sources"]] == [point_id_of(*ref) for ref in refs]


def test_logs_carry_both_request_ids(
    handler_module: ModuleType, stubbed: Stubber, app_logs: RecordCollector
) -> None:
    expect_embedding(stubbed, QUERY)
    stubbed.add_response("invoke_endpoint", invoke_response(tgi_answer("Logged.")))
    context = LambdaContext()

    handler_module.handler(
        api_gateway_event("POST", "/rag", {"query": QUERY}, request_id=REQUEST_ID), context
    )

    [line] = [line for line in app_logs.lines if line["message"] == "prompt_trace"]
    assert line["request_id"] == REQUEST_ID
    assert line["lambda_request_id"] == context.aws_request_id
    assert line["service"] == "llm-twin-rag"
    # The ids live in the request's own context, not in the caller's.
    assert "request_id" not in logger.thread_safe_get_current_keys()


def test_base64_encoded_body_is_decoded(handler_module: ModuleType, stubbed: Stubber) -> None:
    expect_embedding(stubbed, QUERY)
    stubbed.add_response("invoke_endpoint", invoke_response(tgi_answer("Decoded.")))

    response = invoke(
        handler_module, api_gateway_event("POST", "/rag", {"query": QUERY}, base64_body=True)
    )

    assert response["statusCode"] == 200, response["body"]
    assert json.loads(response["body"])["answer"] == "Decoded."


def test_health_event_touches_no_upstream(handler_module: ModuleType) -> None:
    response = invoke(handler_module, api_gateway_event("GET", "/health", request_id=REQUEST_ID))

    assert response["statusCode"] == 200
    assert json.loads(response["body"]) == {
        "status": "ok",
        "model_id": "mlabonne/TwinLlama-3.1-8B-DPO",
    }
    pipeline = handler_module.app.state.pipeline
    assert not pipeline.runtime.opened
    assert not pipeline.store.opened


def test_no_capacity_event_is_503_with_retry_after(
    handler_module: ModuleType, stubbed: Stubber
) -> None:
    expect_embedding(stubbed, QUERY)
    stubbed.add_client_error(
        "invoke_endpoint",
        service_error_code="ValidationError",
        service_message="Inference Component has no capacity to process this request.",
        http_status_code=400,
    )

    response = invoke(
        handler_module, api_gateway_event("POST", "/rag", {"query": QUERY}, request_id=REQUEST_ID)
    )

    assert response["statusCode"] == 503
    assert response["headers"]["retry-after"] == "60"
    error = json.loads(response["body"])["error"]
    assert error["code"] == "model_not_ready"
    assert error["request_id"] == REQUEST_ID


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/rag", '{"query": "x", "unknown": 1}', 422, "invalid_request"),
        ("POST", "/rag", "not json", 422, "invalid_request"),
        ("POST", "/rag", None, 422, "invalid_request"),
        ("POST", "/rag", json.dumps({"query": "x" * 40_000}), 413, "payload_too_large"),
        ("GET", "/rag", None, 405, "method_not_allowed"),
        ("GET", "/nowhere", None, 404, "not_found"),
    ],
)
def test_bad_events_get_json_errors(
    handler_module: ModuleType,
    method: str,
    path: str,
    body: str | None,
    status: int,
    code: str,
) -> None:
    response = invoke(handler_module, api_gateway_event(method, path, body, request_id=REQUEST_ID))

    assert response["statusCode"] == status, response["body"]
    assert response["headers"]["content-type"] == "application/json"
    error = json.loads(response["body"])["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["code"] == code
    assert error["request_id"] == REQUEST_ID
    assert not handler_module.app.state.pipeline.runtime.opened
