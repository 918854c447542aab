"""GET /health answers from the app alone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient


def test_health_is_ok_without_touching_upstreams(client: TestClient, app: FastAPI) -> None:
    response = client.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "model_id": "mlabonne/TwinLlama-3.1-8B-DPO"}
    assert response.headers["x-request-id"]
    assert not app.state.pipeline.runtime.opened
    assert not app.state.pipeline.store.opened


def test_health_is_ok_while_upstreams_are_down(
    make_app: Callable[[], FastAPI], monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.delenv("RAG_QDRANT_PATH")
    monkeypatch.setenv("RAG_QDRANT_URL", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", f"http://127.0.0.1:{closed_port}")

    with TestClient(make_app()) as client:
        response = client.get("/health")

    assert response.status_code == 200
