"""SnapStart: warm the app before Lambda snapshots it, renew per-environment state after a restore.

Before the snapshot, requests run through the app as callers' would, but every upstream call
goes to a loopback port nothing listens on and is refused at once: the imports, FastAPI's
middleware stack and routes, pydantic's validators and botocore's request path are then
warm in the snapshot, and nothing on the network is called. After a restore, AWS's SnapStart
guidance applies: clients (their credentials and connections) and random state captured in
the snapshot would be shared by every restored environment, so they are renewed.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Response

from rag_app.errors import RagError
from rag_app.log import logger
from rag_app.main import create_app
from rag_app.pipeline import RagPipeline
from rag_app.services.retriever import QdrantStore
from rag_app.settings import SettingsError

# What the first request imports lazily (the clients' libraries and the pieces used of them);
# the Qdrant secret is read through Powertools, which brings boto3.
FIRST_REQUEST_MODULES = (
    "boto3",
    "aws_lambda_powertools.utilities.parameters",
    "botocore.session",
    "botocore.config",
    "botocore.exceptions",
    "qdrant_client",
    "qdrant_client.models",
    "qdrant_client.http.exceptions",
)
# The discard port on loopback: a connection there is refused at once.
REFUSING_URL = "http://127.0.0.1:9"
SAGEMAKER_ENDPOINT_ENV = "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"
# Powertools' switch, read when metrics are flushed.
METRICS_DISABLED_ENV = "POWERTOOLS_METRICS_DISABLED"
# Lambda gives the after-restore hooks 10 s in all (SnapStartTimeoutException past that).
STORE_OPEN_BUDGET_S = 5.0
# The Web Adapter (v1.1.0+) POSTs to these paths before the snapshot and after a restore.
BEFORE_CHECKPOINT_ENV = "AWS_LWA_SNAPSTART_BEFORE_CHECKPOINT_PATH"
AFTER_RESTORE_ENV = "AWS_LWA_SNAPSTART_AFTER_RESTORE_PATH"
PRIMING_QUERY = "What does this service answer?"


@dataclass(frozen=True)
class PrimingRequest:
    """One request sent through the app before the snapshot, and the statuses it may get."""

    method: str
    path: str
    body: dict[str, Any] | None
    expected: frozenset[int]


# Upstream calls are refused, so the full routes end in the app's upstream error answers.
UPSTREAM_REFUSED = frozenset({502, 503, 504})
INVALID = frozenset({400, 422})


def priming_requests(model_id: str) -> tuple[PrimingRequest, ...]:
    """Every route a caller may use, valid and invalid, in the order a warm-up needs them."""
    question = {"role": "user", "content": PRIMING_QUERY}
    return (
        PrimingRequest("GET", "/health", None, frozenset({200})),
        PrimingRequest("GET", "/v1/models", None, frozenset({200})),
        PrimingRequest("POST", "/rag", {}, INVALID),
        PrimingRequest("POST", "/rag", {"query": PRIMING_QUERY}, UPSTREAM_REFUSED),
        PrimingRequest("POST", "/v1/chat/completions", {"messages": []}, INVALID),
        PrimingRequest(
            "POST",
            "/v1/chat/completions",
            {"model": model_id, "messages": [question]},
            UPSTREAM_REFUSED,
        ),
        PrimingRequest(
            "POST",
            "/v1/chat/completions",
            {"model": model_id, "messages": [question], "stream": True},
            UPSTREAM_REFUSED,
        ),
    )


# Sends one request through the app as its frontend would; returns the HTTP status.
Send = Callable[[str, str, dict[str, Any] | None], int]


class PrimingError(RuntimeError):
    """A priming request got an answer the app should not give: the snapshot would be broken."""


def prime(pipeline: RagPipeline, send: Send) -> list[str]:
    """Import, build and run what the first request would; nothing reaches an upstream.

    Returns "METHOD /path -> status" per request; raises PrimingError on an unexpected status.
    """
    for module in FIRST_REQUEST_MODULES:
        importlib.import_module(module)
    answered: list[str] = []
    with _upstreams_refused(pipeline):
        for request in priming_requests(pipeline.settings.model_id):
            status = send(request.method, request.path, request.body)
            label = f"{request.method} {request.path} -> {status}"
            if status not in request.expected:
                raise PrimingError(f"{label}, expected one of {sorted(request.expected)}")
            answered.append(label)
        _prime_vector_store_client()
    return answered


def before_snapshot(pipeline: RagPipeline, send: Send) -> None:
    """Prime, and log what each priming request answered."""
    answered = prime(pipeline, send)
    logger.info("primed for the SnapStart snapshot: %s", "; ".join(answered))


def renew_after_restore(pipeline: RagPipeline) -> None:
    """New random state and new clients: none may be shared with other restored environments.

    They are built here, before the first request, so that request finds them ready.
    """
    random.seed()
    pipeline.runtime.reset()
    # Building the SageMaker clients reads this environment's credentials; no call is made.
    _ = pipeline.runtime.client, pipeline.runtime.stream_client
    _reopen_store(pipeline.store)


def _reopen_store(store: QdrantStore) -> None:
    """A new Qdrant client (its own connections), within the restore hook's time if it can.

    Opening may read the Qdrant secret over the network: past STORE_OPEN_BUDGET_S it goes on
    in the background, and the first search waits for it.
    """
    store.close()
    opener = threading.Thread(target=_open_store, args=(store,), name="store-reopen", daemon=True)
    opener.start()
    opener.join(STORE_OPEN_BUDGET_S)


def _open_store(store: QdrantStore) -> None:
    try:
        _ = store.client
    except (RagError, SettingsError) as err:
        # Left closed: the first search opens it again and answers with this error.
        logger.warning("the vector store did not open after the restore: %s", err)


@contextlib.contextmanager
def _upstreams_refused(pipeline: RagPipeline) -> Iterator[None]:
    """SageMaker clients built against the refusing port for the block, dropped after it.

    Metrics are off meanwhile: the refused calls would count as errors on the dashboard.
    """
    overrides = {SAGEMAKER_ENDPOINT_ENV: REFUSING_URL, METRICS_DISABLED_ENV: "true"}
    previous = {name: os.environ.get(name) for name in overrides}
    pipeline.runtime.reset()
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        # No client, credentials or connection of the priming run stays in the snapshot.
        pipeline.runtime.reset()


def _prime_vector_store_client() -> None:
    """One search through qdrant-client's remote path, refused: its request models are built.

    The app's own store may need a secret (a network call) to open, so a throwaway client
    takes the same code path.
    """
    from qdrant_client import QdrantClient
    from qdrant_client.http.exceptions import ResponseHandlingException

    client = QdrantClient(url=REFUSING_URL, timeout=1, check_compatibility=False)
    try:
        client.query_points(collection_name="priming", query=[0.0, 1.0], limit=1)
    except ResponseHandlingException:
        pass  # refused, as intended: only the code path was wanted
    finally:
        client.close()


def create_served_app() -> FastAPI:
    """The app uvicorn serves under the Web Adapter, with the adapter's SnapStart hook routes."""
    app = create_app()
    before, after = os.environ.get(BEFORE_CHECKPOINT_ENV), os.environ.get(AFTER_RESTORE_ENV)
    pipeline: RagPipeline = app.state.pipeline
    if before:
        port = int(os.environ.get("AWS_LWA_PORT", "8080"))

        # A plain `def`: it runs in a worker thread, so the server stays free to answer the
        # priming requests it sends to itself.
        @app.post(before, include_in_schema=False, status_code=204)
        def before_checkpoint() -> Response:
            before_snapshot(pipeline, loopback_sender(port))
            return Response(status_code=204)

    if after:

        @app.post(after, include_in_schema=False, status_code=204)
        def after_restore() -> Response:
            renew_after_restore(pipeline)
            return Response(status_code=204)

    return app


def loopback_sender(port: int) -> Send:
    """Requests to the app over HTTP on loopback, through uvicorn as the adapter sends them."""
    import http.client

    def send(method: str, path: str, body: dict[str, Any] | None) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            payload = None if body is None else json.dumps(body)
            headers = {"content-type": "application/json"} if payload is not None else {}
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()

    return send


class PrimingContext:
    """The Lambda context fields the app reads, for requests sent before the snapshot."""

    aws_request_id = "snapstart-priming"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 60_000


def mangum_sender(entry: Callable[[dict[str, Any], Any], dict[str, Any]]) -> Send:
    """Requests as API Gateway (REST, proxy) hands them to this function, through Mangum."""

    def send(method: str, path: str, body: dict[str, Any] | None) -> int:
        headers = {"content-type": "application/json", "host": "snapstart.invalid"}
        event = {
            "resource": path,
            "path": path,
            "httpMethod": method,
            "headers": headers,
            "multiValueHeaders": {name: [value] for name, value in headers.items()},
            "queryStringParameters": None,
            "multiValueQueryStringParameters": None,
            "pathParameters": None,
            "stageVariables": None,
            "requestContext": {
                "resourcePath": path,
                "httpMethod": method,
                "requestId": "snapstart-priming",
                "stage": "api",
                "identity": {"sourceIp": "127.0.0.1", "userAgent": "snapstart-priming"},
            },
            "body": None if body is None else json.dumps(body),
            "isBase64Encoded": False,
        }
        response = entry(event, PrimingContext())
        return int(response["statusCode"])

    return send


def register_snapstart_hooks(
    pipeline: RagPipeline, entry: Callable[[dict[str, Any], Any], dict[str, Any]]
) -> bool:
    """Prime before Lambda's snapshot and renew after each restore; False outside Lambda.

    `snapshot_restore_py` ships with Lambda's Python runtimes only; Lambda calls the hooks
    only when the function runs with SnapStart.
    """
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot, pipeline, mangum_sender(entry))
    register_after_restore(renew_after_restore, pipeline)
    return True
