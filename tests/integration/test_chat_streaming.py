"""Streaming through the RAG API for real: tokens reach the caller as the model writes them,
and a caller who hangs up stops the model.

The subject is the servers, so the model is a scripted engine writing at a known pace
behind the real local endpoint (vLLM's contract), and the RAG API is the real app.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from local import tgi
from local.containers import LlmContainer
from local.processes import LocalStack
from local.server import Runtime, create_app
from local.settings import Ports
from model_config import DeploymentConfig, load_config
from tests.integration.conftest import STACK_GROUP, free_port
from tests.integration.scripted import (
    FixedEmbeddingContainer,
    ScriptedEngine,
    ServerThread,
    sse_data,
)

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

TOKEN_DELAY_S = 0.05
WORDS = ["tick", " tock"]


@dataclass
class ScriptedStack:
    config: DeploymentConfig
    engine: ScriptedEngine
    api_url: str
    api_log: Path

    def traces(self) -> list[dict[str, object]]:
        lines = self.api_log.read_text(errors="replace").splitlines()
        records = [json.loads(line) for line in lines if line.startswith("{")]
        return [r["prompt_trace"] for r in records if r.get("message") == "prompt_trace"]


@pytest.fixture(scope="module")
def scripted(tmp_path_factory: pytest.TempPathFactory, store_copy: Path) -> Iterator[ScriptedStack]:
    config = load_config("twin-llama-3.1-8b")
    names = config.names
    engine = ScriptedEngine(WORDS, delay_s=TOKEN_DELAY_S)
    llm = config.llm
    limits = tgi.Limits(llm.max_input_tokens, llm.max_total_tokens)
    runtime = Runtime(
        endpoint=names.endpoint,
        components={
            names.llm_component: LlmContainer(engine, limits, "vllm", llm.model_id),
            names.embedding_component: FixedEmbeddingContainer(),
        },
    )
    folder = tmp_path_factory.mktemp("scripted")
    store = folder / "store"
    shutil.copytree(store_copy, store)
    endpoint_port = free_port()
    with ServerThread(create_app(runtime), endpoint_port):
        ports = Ports(endpoint=endpoint_port, api=free_port())
        local = LocalStack(config, store, ports, log_path=folder / "api.log")
        local.start_api()
        try:
            yield ScriptedStack(config, engine, ports.api_url, folder / "api.log")
        finally:
            local.stop()


def chat(stack: ScriptedStack, max_tokens: int) -> dict[str, object]:
    return {
        "model": stack.config.llm.model_id,
        "messages": [{"role": "user", "content": "Keep going."}],
        "max_tokens": max_tokens,
        "stream": True,
    }


def test_tokens_arrive_as_they_are_written(scripted: ScriptedStack) -> None:
    tokens = 60  # at 50 ms each: three seconds of generation
    arrivals: list[float] = []
    started = time.monotonic()
    with httpx.stream(
        "POST", f"{scripted.api_url}/v1/chat/completions", json=chat(scripted, tokens), timeout=60
    ) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            events = sse_data([line])
            if events and events[0] != "[DONE]" and events[0]["choices"][0]["delta"].get("content"):
                arrivals.append(time.monotonic() - started)
    total = time.monotonic() - started

    assert len(arrivals) == tokens
    # Buffered, every token would arrive at the end; streamed, the first comes early.
    assert arrivals[0] < total / 2, (arrivals[0], total)
    assert arrivals[len(arrivals) // 2] < total * 0.8


def test_a_caller_who_hangs_up_frees_the_llm_within_two_seconds(scripted: ScriptedStack) -> None:
    runs_before = len(scripted.engine.runs)
    longest = scripted.config.generation.max_new_tokens  # 150 tokens: 7.5 s at 50 ms each
    with httpx.stream(
        "POST", f"{scripted.api_url}/v1/chat/completions", json=chat(scripted, longest), timeout=60
    ) as response:
        assert response.status_code == 200
        received = 0
        for line in response.iter_lines():
            if line.startswith("data: ") and '"content":"' in line:
                received += 1
            if received == 5:
                break
        hung_up = time.monotonic()
    # Leaving the block closed the connection mid-stream.

    run = scripted.engine.runs[runs_before]
    assert run.finished.wait(timeout=10), "the model never stopped"
    assert run.cancelled
    assert run.finished_at is not None
    assert run.finished_at - hung_up < 2.0, run.finished_at - hung_up
    # Far fewer tokens than asked for were written.
    assert run.produced < longest / 2
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        closed = [t for t in scripted.traces() if t.get("error_code") == "client_closed"]
        if closed:
            break
        time.sleep(0.2)
    else:
        pytest.fail("no prompt trace records the caller leaving")
