"""CORS for browser apps: off unless the config names origins, then answered by the app."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

ORIGIN = "https://chat.example.com"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, x-stainless-os",
}


def client_with(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[[], FastAPI], origins: list[str] | None
) -> TestClient:
    if origins is not None:
        monkeypatch.setenv("RAG_CORS_ORIGINS", json.dumps(origins))
    return TestClient(make_app(), raise_server_exceptions=False)


def test_no_cors_headers_by_default(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[[], FastAPI]
) -> None:
    client = client_with(monkeypatch, make_app, None)

    preflight = client.options("/v1/chat/completions", headers=PREFLIGHT)
    answer = client.get("/v1/models", headers={"Origin": ORIGIN})

    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in answer.headers


def test_a_configured_origin_gets_preflights_and_readable_answers(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[[], FastAPI]
) -> None:
    client = client_with(monkeypatch, make_app, [ORIGIN, "http://localhost:5173"])

    preflight = client.options("/v1/chat/completions", headers=PREFLIGHT)
    answer = client.get("/v1/models", headers={"Origin": ORIGIN})
    error = client.post("/v1/chat/completions", json={}, headers={"Origin": ORIGIN})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "x-stainless-os" in preflight.headers["access-control-allow-headers"]
    for response in (answer, error):
        assert response.headers["access-control-allow-origin"] == ORIGIN
        assert "x-request-id" in response.headers["access-control-expose-headers"].lower()
    assert error.status_code == 400


def test_another_origin_is_not_allowed(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[[], FastAPI]
) -> None:
    client = client_with(monkeypatch, make_app, [ORIGIN])

    preflight = client.options(
        "/v1/chat/completions", headers={**PREFLIGHT, "Origin": "https://evil.example"}
    )

    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
