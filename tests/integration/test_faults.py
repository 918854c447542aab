"""The API while the local endpoint is down, and after it is back."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.conftest import STACK_GROUP, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

QUESTION = {"query": "What port does the tidewell dashboard use?", "max_new_tokens": 8}


def test_endpoint_outage_gives_upstream_errors_then_recovers(
    api: httpx.Client, stack: Stack
) -> None:
    stack.local.endpoint.stop()
    try:
        response = api.post("/rag", json=QUESTION)
        assert response.status_code in (502, 503), response.text
        error = response.json()["error"]
        assert error["code"]
        assert error["message"]
        assert error["request_id"]
        # No internals leak to the caller.
        assert "127.0.0.1" not in response.text
        assert "Traceback" not in response.text
    finally:
        stack.local.start_endpoint()
    response = api.post("/rag", json=QUESTION)
    assert response.status_code == 200, response.text
    assert response.json()["answer"].strip()
