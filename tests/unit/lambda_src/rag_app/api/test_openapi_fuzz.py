"""Schemathesis fuzzes the app's own OpenAPI schema in-process: no input may yield a 500."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from rag_app.schemas import ErrorResponse, HealthResponse, RagResponse

from ...support import FakeSageMaker

EXAMPLES_PER_OPERATION = 100


def check_response(case: Any) -> None:
    response = case.call()

    assert response.status_code < 500, (case.method, case.path, case.body, response.text)
    body = response.json()
    if response.status_code >= 400:
        ErrorResponse.model_validate(body)
    elif case.path == "/rag":
        RagResponse.model_validate(body)
    else:
        HealthResponse.model_validate(body)


@pytest.mark.parametrize("path", ["/rag", "/health"])
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

    @given(case=st.one_of(strategies))
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def fuzz(case: Any) -> None:
        check_response(case)

    fuzz()
