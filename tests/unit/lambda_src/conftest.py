"""Fixtures for the RAG app: a seeded local Qdrant, the app, stubbed SageMaker, captured logs."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from botocore.stub import Stubber
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag_app.log import SERVICE_NAME, logger
from rag_app.main import create_app

from .support import (
    DIMENSIONS,
    EMBEDDING_COMPONENT,
    ENDPOINT,
    LLM_COMPONENT,
    MAX_INPUT_TOKENS,
    MODEL_ID,
    PROMPT_TEMPLATE,
    SEED_POINTS,
    FakeSageMaker,
    RecordCollector,
)


@pytest.fixture(scope="session")
def seeded_qdrant_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local-mode Qdrant store on disk, seeded once; tests get their own copy."""
    from qdrant_client import QdrantClient, models

    path = tmp_path_factory.mktemp("qdrant-template")
    seeding = QdrantClient(path=str(path))
    try:
        for collection, points in SEED_POINTS.items():
            seeding.create_collection(
                collection,
                vectors_config=models.VectorParams(
                    size=DIMENSIONS, distance=models.Distance.COSINE
                ),
            )
            seeding.upsert(collection, points=[models.PointStruct(**point) for point in points])
    finally:
        # Local mode locks its folder: the app can only open it once this client is closed.
        seeding.close()
    return path


@pytest.fixture
def qdrant_path(seeded_qdrant_template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "qdrant"
    shutil.copytree(seeded_qdrant_template, path)
    return path


@pytest.fixture
def rag_env(monkeypatch: pytest.MonkeyPatch, qdrant_path: Path) -> dict[str, str]:
    """The environment the model config's runtime_env produces, plus a local Qdrant path."""
    for name in list(os.environ):
        if name.startswith(("RAG_", "AWS_", "POWERTOOLS_METRICS")):
            monkeypatch.delenv(name)
    env = {
        "RAG_ENDPOINT_NAME": ENDPOINT,
        "RAG_LLM_COMPONENT": LLM_COMPONENT,
        "RAG_EMBEDDING_COMPONENT": EMBEDDING_COMPONENT,
        "RAG_MODEL_ID": MODEL_ID,
        # TGI's generate contract; tests of the OpenAI contract switch the engine.
        "RAG_LLM_ENGINE": "tgi",
        "RAG_PROMPT_FORMAT": "template",
        "RAG_PROMPT_TEMPLATE": PROMPT_TEMPLATE,
        "RAG_MAX_INPUT_TOKENS": str(MAX_INPUT_TOKENS),
        "RAG_CHARS_PER_TOKEN": "3.0",
        "RAG_MAX_NEW_TOKENS": "150",
        "RAG_TEMPERATURE": "0.01",
        "RAG_TOP_P": "0.9",
        "RAG_REPETITION_PENALTY": "1.1",
        "RAG_STOP": json.dumps(["<|eot_id|>"]),
        "RAG_COLLECTIONS": json.dumps(list(SEED_POINTS)),
        "RAG_TOP_K": "3",
        "RAG_REQUEST_TIMEOUT_S": "25",
        "RAG_QDRANT_PATH": str(qdrant_path),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        # Keeps botocore from reading the developer's ~/.aws files.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def make_app(rag_env: dict[str, str]) -> Iterator[Callable[[], FastAPI]]:
    """Builds apps from the current environment and closes their Qdrant stores afterwards."""
    apps: list[FastAPI] = []

    def make() -> FastAPI:
        app = create_app()
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.state.pipeline.store.close()


@pytest.fixture
def app(make_app: Callable[[], FastAPI]) -> FastAPI:
    return make_app()


@pytest.fixture
def sagemaker(app: FastAPI) -> Iterator[Stubber]:
    """A Stubber on the app's own cached sagemaker-runtime client."""
    stubber = Stubber(app.state.pipeline.runtime.client)
    stubber.activate()
    yield stubber
    stubber.deactivate()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def fake_sagemaker(app: FastAPI) -> FakeSageMaker:
    fake = FakeSageMaker()
    fake.install(app.state.pipeline.runtime)
    return fake


@pytest.fixture
def app_logs() -> Iterator[RecordCollector]:
    app_logger = logging.getLogger(SERVICE_NAME)
    collector = RecordCollector(logger.registered_formatter)
    app_logger.addHandler(collector)
    yield collector
    app_logger.removeHandler(collector)


@pytest.fixture
def closed_port() -> int:
    """A local TCP port nothing listens on (connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def silent_server() -> Iterator[str]:
    """An HTTP URL that accepts connections and never answers (for read timeouts)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(connection)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join(timeout=2)
    for connection in accepted:
        connection.close()
    server.close()
