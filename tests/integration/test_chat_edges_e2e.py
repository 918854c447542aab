"""The chat API's edges on the local stack with the real model: structured output on both
engines' contracts, and a caller who hangs up while the model is still reading the prompt."""

from __future__ import annotations

import json
import select
import socket
import time
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import openai
import pytest
from pydantic import BaseModel

from tests.integration.conftest import STACK_GROUP, Stack, openai_client

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]


class Verdict(BaseModel):
    """An answer the grammar leaves a model few tokens for, whatever the model."""

    verdict: Literal["yes", "no"]
    sure: bool


@pytest.fixture
def sdk(engine_stack: Stack) -> Iterator[openai.OpenAI]:
    with openai_client(engine_stack.ports.api_url, timeout=300) as client:
        yield client


def test_parse_returns_the_pydantic_object_on_each_engine(
    sdk: openai.OpenAI, engine_stack: Stack
) -> None:
    before = len(engine_stack.invocations())

    completion = sdk.chat.completions.parse(
        model=engine_stack.config.llm.model_id,
        messages=[{"role": "user", "content": "Did Ilse Marrow count the moths? Answer in JSON."}],
        response_format=Verdict,
        max_tokens=60,
    )

    assert isinstance(completion.choices[0].message.parsed, Verdict)
    [call] = [c for c in engine_stack.invocations()[before:] if c["component"] == engine_stack.llm]
    sent = call["stats"]["request"]
    # Each engine got the schema through its own constraint, and the context with it.
    constraint = sent.get("parameters", {}).get("grammar") or sent.get("response_format")
    assert "verdict" in json.dumps(constraint)
    assert "moth" in json.dumps(sent).lower()


def _send_and_keep_open(url: str, body: dict[str, Any]) -> socket.socket:
    """POST `body` over a raw socket and return it unread: closing it is the hang-up."""
    parts = urlsplit(url)
    data = json.dumps(body).encode()
    sock = socket.create_connection((parts.hostname, parts.port or 80), timeout=30)
    head = (
        f"POST {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data)
    return sock


def _wait_for(found: Any, timeout_s: float, what: str) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _llm_running(stack: Stack, sock: socket.socket | None = None) -> bool:
    """Whether an LLM call is running; fails if the API answered before one began."""
    if sock is not None and select.select([sock], [], [], 0)[0]:
        pytest.fail(f"the API answered first: {sock.recv(2000)!r}")
    running = httpx.get(f"{stack.ports.endpoint_url}/_local/running", timeout=5).json()
    return any(call["component"] == stack.llm for call in running)


def test_a_hang_up_during_prefill_frees_the_endpoint_within_two_seconds(stack: Stack) -> None:
    # Thousands of distinct tokens: the model reads them for many seconds on a CPU.
    # Most of the input budget the app estimates, so the app lets it through.
    budget_chars = int(stack.config.llm.max_input_tokens * stack.config.retrieval.chars_per_token)
    words = (f"moth{index} counted" for index in range(budget_chars))
    question = " ".join(words)[: budget_chars // 2] + " Who counted them?"
    body = {
        "model": stack.config.llm.model_id,
        "messages": [{"role": "user", "content": question}],
        "stream": True,
    }
    before = len(stack.invocations())

    sock = _send_and_keep_open(f"{stack.ports.api_url}/v1/chat/completions", body)
    try:
        # The LLM invocation has started: the engine is reading the prompt.
        _wait_for(lambda: _llm_running(stack, sock), 120, "the LLM call")
        time.sleep(1.0)
    finally:
        sock.close()
        hung_up = time.time()

    def cancelled() -> dict[str, Any] | None:
        calls = [c for c in stack.invocations()[before:] if c["component"] == stack.llm]
        return calls[0]["stats"].get("cancelled") if calls else None

    record = _wait_for(cancelled, 30, "the endpoint's cancellation record")
    assert record["phase"] == "prefill"
    assert record["prompt_tokens_done"] < record["prompt_tokens"]
    # The endpoint's own clock: when the engine stopped, against when the caller left.
    assert record["at"] - hung_up < 2.0, record
    assert not _llm_running(stack)
