"""The API while the endpoint's components come back from zero copies, one after the other.

The local endpoint refuses a component at zero copies as SageMaker does, so this is the
app's real behaviour during a wake-up: 503 with Retry-After until the LLM answers.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.integration.conftest import STACK_GROUP, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

QUESTION = {"query": "What port does the tidewell dashboard use?", "max_new_tokens": 4}


def set_copies(stack: Stack, component: str, copies: int) -> None:
    response = httpx.post(
        f"{stack.ports.endpoint_url}/_local/copies",
        json={"component": component, "copies": copies},
        timeout=10,
    )
    response.raise_for_status()


@pytest.fixture
def asleep(stack: Stack) -> Iterator[Stack]:
    """Every component at zero copies, as after an idle night; awake again afterwards."""
    for component in (stack.llm, stack.embedding):
        set_copies(stack, component, 0)
    try:
        yield stack
    finally:
        for component in (stack.llm, stack.embedding):
            set_copies(stack, component, 1)


def assert_not_ready(response: httpx.Response, upstream: str) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "60"
    error = response.json()["error"]
    assert error["code"] == "model_not_ready"
    assert upstream in error["message"]
    # SageMaker's own message stays in the logs.
    assert "UpdateInferenceComponentRuntimeConfig" not in response.text


def test_503_with_retry_after_until_the_llm_answers(asleep: Stack, api: httpx.Client) -> None:
    stack = asleep
    chat = {
        "model": stack.config.llm.model_id,
        "messages": [{"role": "user", "content": QUESTION["query"]}],
        "max_tokens": 4,
        "stream": True,
    }

    # Nothing is up: the first call the request makes is refused.
    assert_not_ready(api.post("/rag", json=QUESTION), "embedding model")
    # The embedder's copy came up first; the LLM's is still starting.
    set_copies(stack, stack.embedding, 1)
    assert_not_ready(api.post("/rag", json=QUESTION), "language model")
    streamed = api.post("/v1/chat/completions", json=chat)
    assert streamed.status_code == 503
    assert streamed.headers["content-type"] == "application/json"
    assert streamed.json()["error"]["type"] == "server_error"
    # Both up: answers flow again, buffered and streamed.
    set_copies(stack, stack.llm, 1)
    assert api.post("/rag", json=QUESTION).status_code == 200
    with api.stream("POST", "/v1/chat/completions", json=chat) as response:
        assert response.status_code == 200
        assert "data: [DONE]" in response.read().decode()
