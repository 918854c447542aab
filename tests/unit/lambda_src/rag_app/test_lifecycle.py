"""SnapStart priming and restore: through Mangum (runtime hooks) and uvicorn (the adapter's hooks)."""

from __future__ import annotations

import http.client
import os
import random
import socket
import sys
import threading
import time
import types
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import uvicorn
from fastapi import FastAPI
from mangum import Mangum

from rag_app import lifecycle
from rag_app.errors import UpstreamFailed
from rag_app.lifecycle import (
    AFTER_RESTORE_ENV,
    BEFORE_CHECKPOINT_ENV,
    METRICS_DISABLED_ENV,
    SAGEMAKER_ENDPOINT_ENV,
    PrimingError,
    before_snapshot,
    create_served_app,
    mangum_sender,
    prime,
    register_snapstart_hooks,
    renew_after_restore,
)

from ..support import MODEL_ID


class RecordingServer(BaseHTTPRequestHandler):
    """Counts every request: a stand-in for a real upstream the priming must never call."""

    calls: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        RecordingServer.calls.append(self.path)
        self.send_response(500)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def real_upstream(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The app's configured SageMaker endpoint, recording what reaches it."""
    RecordingServer.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), RecordingServer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(SAGEMAKER_ENDPOINT_ENV, f"http://127.0.0.1:{server.server_address[1]}")
    yield RecordingServer.calls
    server.shutdown()


def test_priming_runs_every_route_through_mangum_and_calls_no_upstream(
    app: FastAPI, real_upstream: list[str]
) -> None:
    pipeline = app.state.pipeline
    answered = prime(pipeline, mangum_sender(Mangum(app, lifespan="off")))

    assert answered == [
        "GET /health -> 200",
        "GET /v1/models -> 200",
        "POST /rag -> 422",
        "POST /rag -> 502",
        "POST /v1/chat/completions -> 400",
        "POST /v1/chat/completions -> 502",
        "POST /v1/chat/completions -> 502",  # streamed: refused before the first event
    ]
    assert real_upstream == []
    assert "qdrant_client.models" in sys.modules
    # Nothing of the priming run is left for the snapshot: no client, the settings as they were.
    assert not pipeline.runtime.opened
    assert os.environ[SAGEMAKER_ENDPOINT_ENV].startswith("http://127.0.0.1:")
    assert METRICS_DISABLED_ENV not in os.environ


def test_after_priming_the_app_reaches_its_real_upstream(
    app: FastAPI, real_upstream: list[str]
) -> None:
    entry = Mangum(app, lifespan="off")
    prime(app.state.pipeline, mangum_sender(entry))
    renew_after_restore(app.state.pipeline)

    status = mangum_sender(entry)("POST", "/rag", {"query": "Where does this go?"})

    assert status == 502  # the recording server answers 500
    assert real_upstream, "the request after the restore must reach the configured endpoint"


def test_an_unexpected_answer_fails_the_priming(app: FastAPI) -> None:
    def broken(method: str, path: str, body: dict[str, Any] | None) -> int:
        return 500

    with pytest.raises(PrimingError, match=r"GET /health -> 500, expected one of \[200\]"):
        prime(app.state.pipeline, broken)
    assert not app.state.pipeline.runtime.opened


def test_restore_renews_random_state_and_clients(app: FastAPI) -> None:
    pipeline = app.state.pipeline
    before_clients = (pipeline.runtime.client, pipeline.runtime.stream_client)
    before_store = pipeline.store.client
    random.seed(7)
    snapshot_state = random.getstate()

    renew_after_restore(pipeline)

    assert random.getstate() != snapshot_state
    assert pipeline.runtime.opened
    renewed = (pipeline.runtime.client, pipeline.runtime.stream_client)
    assert all(new is not old for new, old in zip(renewed, before_clients, strict=True))
    # The store gets a client of its own too, ready before the first request.
    assert pipeline.store.opened
    assert pipeline.store.client is not before_store


def test_a_store_that_cannot_open_after_restore_is_left_to_the_first_search(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline = app.state.pipeline

    def refuse() -> None:
        raise UpstreamFailed("The vector store could not be opened.", detail="refused")

    monkeypatch.setattr(pipeline.store, "_open", refuse)

    renew_after_restore(pipeline)

    assert not pipeline.store.opened
    assert pipeline.runtime.opened
    with pytest.raises(UpstreamFailed):
        _ = pipeline.store.client


def test_hooks_register_only_where_lambdas_runtime_provides_them(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = Mangum(app, lifespan="off")
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)
    assert register_snapstart_hooks(app.state.pipeline, entry) is False

    registered: dict[str, tuple[Callable[..., Any], tuple[Any, ...]]] = {}
    runtime_hooks = types.ModuleType("snapshot_restore_py")
    runtime_hooks.register_before_snapshot = (  # type: ignore[attr-defined]
        lambda func, *args: registered.setdefault("before", (func, args))
    )
    runtime_hooks.register_after_restore = (  # type: ignore[attr-defined]
        lambda func, *args: registered.setdefault("after", (func, args))
    )
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", runtime_hooks)

    assert register_snapstart_hooks(app.state.pipeline, entry) is True
    before, before_args = registered["before"]
    after, after_args = registered["after"]
    assert before is before_snapshot
    assert before_args[0] is app.state.pipeline
    assert after is renew_after_restore
    assert after_args == (app.state.pipeline,)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def post(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request("POST", path)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


@pytest.fixture
def served(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, real_upstream: list[str]
) -> Iterator[tuple[int, FastAPI]]:
    """uvicorn serving the Web Adapter's app with the adapter's SnapStart variables set."""
    port = free_port()
    monkeypatch.setenv(BEFORE_CHECKPOINT_ENV, "/_lifecycle/before-checkpoint")
    monkeypatch.setenv(AFTER_RESTORE_ENV, "/_lifecycle/after-restore")
    monkeypatch.setenv("AWS_LWA_PORT", str(port))
    app = create_served_app()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield port, app
    server.should_exit = True
    thread.join(timeout=10)
    app.state.pipeline.store.close()


def test_web_adapter_hooks_prime_over_loopback_and_renew(
    served: tuple[int, FastAPI], real_upstream: list[str]
) -> None:
    port, app = served

    assert post(port, "/_lifecycle/before-checkpoint") == 204
    assert real_upstream == []
    assert not app.state.pipeline.runtime.opened

    assert post(port, "/_lifecycle/after-restore") == 204
    assert app.state.pipeline.runtime.opened


def test_web_adapter_app_has_no_hook_routes_without_snapstart(rag_env: dict[str, str]) -> None:
    for name in (BEFORE_CHECKPOINT_ENV, AFTER_RESTORE_ENV):
        assert name not in os.environ
    app = create_served_app()
    try:
        paths = {getattr(route, "path", None) for route in app.routes}
        assert not {path for path in paths if path and path.startswith("/_lifecycle")}
        assert "/_lifecycle/before-checkpoint" not in app.openapi()["paths"]
    finally:
        app.state.pipeline.store.close()


def test_priming_uses_the_deployed_model_id() -> None:
    chats = [
        request.body
        for request in lifecycle.priming_requests(MODEL_ID)
        if request.path == "/v1/chat/completions" and request.body and "model" in request.body
    ]
    assert [body.get("stream", False) for body in chats] == [False, True]
    assert {body["model"] for body in chats} == {MODEL_ID}
