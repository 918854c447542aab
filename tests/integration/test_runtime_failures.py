"""Container failures the real models rarely produce, through a real HTTP server and boto3:
a model that times out, one that answers 5xx, and a stream that breaks half way."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.eventstream import EventStreamError

from local.containers import ContainerResponse
from local.server import Runtime, create_app
from tests.integration.conftest import free_port, sagemaker_env
from tests.integration.scripted import ServerThread

ENDPOINT = "fake-endpoint"


class FakeContainer:
    """Answers with whatever a test scripted, like a misbehaving model server."""

    kind = "llm"

    def __init__(self, status: int = 200, delay_s: float = 0.0, break_stream: bool = False):
        self.status, self.delay_s, self.break_stream = status, delay_s, break_stream
        self.cancel = threading.Event()

    async def invoke(self, body: bytes, cancel: threading.Event) -> ContainerResponse:
        self.cancel = cancel
        await asyncio.sleep(self.delay_s)
        if self.status >= 300:
            return ContainerResponse(self.status, "application/json", self._error(), {})
        return ContainerResponse(self.status, "text/event-stream", self._tokens(), {})

    async def _error(self) -> AsyncIterator[bytes]:
        yield b'{"error":"overloaded","error_type":"overloaded"}'

    async def _tokens(self) -> AsyncIterator[bytes]:
        yield b'data:{"token":{"id":1,"text":"a","logprob":0.0,"special":false}}\n\n'
        if self.break_stream:
            raise RuntimeError("CUDA error: device lost")

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Runtime]]:
    runtime = Runtime(
        endpoint=ENDPOINT,
        components={
            "slow": FakeContainer(delay_s=5.0),
            "broken": FakeContainer(status=503),
            "flaky-stream": FakeContainer(break_stream=True),
        },
        timeout_s=1.0,
    )
    with ServerThread(create_app(runtime), free_port()) as served:
        yield served.url, runtime


@pytest.fixture(scope="module")
def client(server: tuple[str, Runtime]) -> Any:
    with sagemaker_env(server[0]):
        return boto3.session.Session().client(
            "sagemaker-runtime", config=Config(retries={"max_attempts": 1})
        )


def test_a_model_past_the_deadline_is_a_model_error(
    client: Any, server: tuple[str, Runtime]
) -> None:
    with pytest.raises(client.exceptions.ModelError) as raised:
        client.invoke_endpoint(EndpointName=ENDPOINT, InferenceComponentName="slow", Body=b"{}")
    assert "timed out" in raised.value.response["Error"]["Message"]
    slow = server[1].components["slow"]
    assert isinstance(slow, FakeContainer)
    # The container is told to stop: no model keeps working for a caller that was answered.
    assert slow.cancel.is_set()


def test_a_server_error_from_the_model_keeps_its_status(client: Any) -> None:
    with pytest.raises(client.exceptions.ModelError) as raised:
        client.invoke_endpoint(EndpointName=ENDPOINT, InferenceComponentName="broken", Body=b"{}")
    response = raised.value.response
    assert response["OriginalStatusCode"] == 503
    assert "Received server error (503)" in response["Error"]["Message"]
    assert json.loads(response["OriginalMessage"])["error"] == "overloaded"


def test_a_stream_that_breaks_ends_with_model_stream_error(client: Any) -> None:
    response = client.invoke_endpoint_with_response_stream(
        EndpointName=ENDPOINT, InferenceComponentName="flaky-stream", Body=b"{}"
    )
    received: list[bytes] = []

    def drain() -> None:
        for event in response["Body"]:
            received.append(event["PayloadPart"]["Bytes"])

    with pytest.raises(EventStreamError) as raised:
        drain()
    assert raised.value.response["Error"]["Code"] == "ModelStreamError"
    assert "device lost" in raised.value.response["Error"]["Message"]
    assert b"".join(received).startswith(b"data:")
