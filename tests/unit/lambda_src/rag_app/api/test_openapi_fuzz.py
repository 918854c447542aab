"""Schemathesis fuzzes the app's own OpenAPI schema in-process: no input may yield a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from rag_app.chat_schemas import ChatCompletion, ModelList, OpenAiErrorResponse
from rag_app.schemas import ErrorResponse, HealthResponse, RagResponse

from ...support import MODEL_ID, FakeSageMaker

EXAMPLES_PER_OPERATION = 100


SUCCESS_BODIES: dict[str, Any] = {
    "/rag": RagResponse,
    "/health": HealthResponse,
    "/v1/chat/completions": ChatCompletion,
    "/v1/models": ModelList,
}


def check_response(case: Any) -> int:
    """The response's status, after checking it is no 5xx and has the documented shape."""
    response = case.call()

    assert response.status_code < 500, (case.method, case.path, case.body, response.text)
    # The OpenAI-compatible routes answer errors in OpenAI's shape, /rag and /health in ours.
    errors = OpenAiErrorResponse if case.path.startswith("/v1/") else ErrorResponse
    # schemathesis keeps every value of a header.
    content_type = " ".join(response.headers.get("content-type", []))
    if content_type.startswith("text/event-stream"):
        check_event_stream(response.text)
    elif response.status_code >= 400:
        errors.model_validate(response.json())
    else:
        SUCCESS_BODIES[case.path].model_validate(response.json())
    return int(response.status_code)


def servable(case: Any) -> Any:
    """A generated chat request made answerable (the served model, one question), so its
    other generated fields are what the fuzzing varies."""
    if isinstance(case.body, dict):
        case.body["model"] = MODEL_ID
        case.body["messages"] = [{"role": "user", "content": "Who hiked the Varn ridge?"}]
    return case


def check_event_stream(text: str) -> None:
    """Every event of a streamed answer is JSON, and the stream ends with [DONE]."""
    data = [line.removeprefix("data:").strip() for line in text.splitlines() if line]
    assert data[-1] == "[DONE]", text
    for event in data[:-1]:
        assert isinstance(json.loads(event), dict), event


@pytest.mark.parametrize("path", sorted(SUCCESS_BODIES))
def test_no_generated_input_yields_a_server_error(
    app: FastAPI, fake_sagemaker: FakeSageMaker, path: str
) -> None:
    # Real local Qdrant and a never-empty fake SageMaker: valid inputs run the whole pipeline.
    # (schemathesis.pytest.from_fixture does not work with pytest 9, so hypothesis drives it.)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = schema[path]
    strategies = [
        operations[method].as_strategy(generation_mode=mode)
        for method in operations
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
    ]
    if path == "/v1/chat/completions":
        # Random model names and message orders are all refused: steer some cases past that.
        strategies.append(operations["POST"].as_strategy().map(servable))
    statuses: list[int] = []

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def fuzz(case: Any) -> None:
        statuses.append(check_response(case))

    fuzz()
    # Not only refusals: some generated inputs ran the whole route.
    assert any(status < 300 for status in statuses), sorted(set(statuses))
