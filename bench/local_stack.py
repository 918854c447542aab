"""What the end-to-end benches share: the local stack on free ports over the sample corpus, and
a streamed chat answer timed from the client's side."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from local.processes import LocalStack
    from local.settings import Ports
    from model_config import DeploymentConfig

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def seed_store(path: Path, model: str) -> None:
    """The sample corpus, loaded by the same command users run."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "local.ingest", "--model", model, "--qdrant-path", str(path)],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )


def invocations(endpoint_url: str) -> list[dict[str, Any]]:
    """The local endpoint's recent invocations, newest last."""
    response = httpx.get(f"{endpoint_url}/_local/invocations", timeout=10)
    response.raise_for_status()
    result: list[dict[str, Any]] = response.json()
    return result


@contextmanager
def started_stack(
    config: DeploymentConfig, *, store: Path | None = None, threads: int | None = None
) -> Iterator[LocalStack]:
    """Endpoint, API and batch runner for `config` on free ports, stopped on exit; a fresh seeded
    store unless `store` is given, llama.cpp on `threads` threads if given."""
    from local.llm import THREADS_ENV
    from local.processes import LocalStack
    from local.settings import Ports

    ports = Ports(endpoint=free_port(), api=free_port())
    with tempfile.TemporaryDirectory() as tmp:
        if store is None:
            store = Path(tmp) / "qdrant"
            seed_store(store, config.name)
        previous = os.environ.get(THREADS_ENV)
        if threads is not None:
            # The stack copies this environment for its children when it is built.
            os.environ[THREADS_ENV] = str(threads)
        try:
            stack = LocalStack(
                config,
                store,
                ports,
                log_path=Path(tmp) / "endpoint.log",
                api_log_path=Path(tmp) / "api.log",
            )
        finally:
            if previous is None:
                os.environ.pop(THREADS_ENV, None)
            else:
                os.environ[THREADS_ENV] = previous
        with stack:
            yield stack


def runtime_client(ports: Ports, **config: Any) -> Any:
    """boto3's sagemaker-runtime client on the local endpoint, one attempt per call; `config`
    adds botocore Config options (read_timeout, max_pool_connections)."""
    import boto3  # type: ignore[import-untyped]
    from botocore.config import Config  # type: ignore[import-untyped]

    from local.settings import DUMMY_CREDENTIALS

    # Dummy credentials from the environment, as the RAG app gets them in local mode.
    os.environ.update(DUMMY_CREDENTIALS)
    return boto3.session.Session().client(
        "sagemaker-runtime",
        endpoint_url=ports.endpoint_url,
        config=Config(retries={"max_attempts": 1}, **config),
    )


@dataclass
class Timing:
    """One streamed answer: seconds to the first content token and to the end, content chunks."""

    first_s: float
    total_s: float
    tokens: int
    request_id: str = ""
    # The API's closing event (retrieval, latency_ms) when the request asked to see it.
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def tokens_per_s(self) -> float:
        streaming = self.total_s - self.first_s
        return (self.tokens - 1) / streaming if streaming > 0 and self.tokens > 1 else 0.0


def event_content(event: dict[str, Any]) -> str:
    """The text one streamed event carries (a TGI token or an OpenAI chunk), "" if none."""
    if "token" in event:
        return "" if event["token"]["special"] else str(event["token"]["text"])
    if event.get("choices"):
        choice = event["choices"][0]
        return str(choice.get("text") or (choice.get("delta") or {}).get("content") or "")
    return ""


def time_streamed_answer(
    api: httpx.Client,
    model_id: str,
    question: str,
    *,
    max_tokens: int,
    rag: dict[str, Any] | None = None,
) -> Timing:
    """A greedy chat answer streamed through the API, timed to its first content token and end;
    `rag` is the request's retrieval options."""
    body: dict[str, Any] = {
        "model": model_id,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
    }
    if rag is not None:
        body["rag"] = rag
    started = time.perf_counter()
    first, tokens = 0.0, 0
    report: dict[str, Any] = {}
    with api.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        request_id = response.headers.get("x-request-id", "")
        for line in response.iter_lines():
            if not line.startswith("data: ") or line.endswith("[DONE]"):
                continue
            event = json.loads(line.removeprefix("data: "))
            if "retrieval" in event:
                report = event
            if event_content(event):
                tokens += 1
                first = first or time.perf_counter() - started
    return Timing(first, time.perf_counter() - started, tokens, request_id, report)
