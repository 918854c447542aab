"""Prompt traces: the structured log record, EMF metrics and the optional Opik export."""

from __future__ import annotations

import json
import re
import sys
import types
from collections.abc import Callable
from typing import Any, ClassVar

import boto3
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from moto import mock_aws

from rag_app.services.trace import (
    OPIK_FLUSH_TIMEOUT_S,
    PowertoolsTraceSink,
    PromptTrace,
    RetrievedRef,
    TraceEmitter,
    create_trace_emitter,
)
from rag_app.settings import SettingsError

from ...support import FakeSageMaker, RecordCollector


def finished_trace() -> PromptTrace:
    return PromptTrace(
        request_id="req-1",
        model_id="mlabonne/TwinLlama-3.1-8B-DPO",
        query="q",
        retrieved=[RetrievedRef("embedded_posts", "p1", 0.8)],
        prompt="prompt",
        answer="answer",
        prompt_tokens_estimate=120,
        generated_tokens=30,
        finish_reason="eos_token",
        latency_ms={"embed": 10.0, "search": 5.0, "generate": 900.0, "total": 916.0},
    )


def emf_records(output: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [record for record in records if "_aws" in record]


def test_log_record_and_emf_metrics(
    capsys: pytest.CaptureFixture[str],
    app_logs: RecordCollector,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_NAMESPACE", raising=False)
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)

    PowertoolsTraceSink().emit(finished_trace())

    [trace] = app_logs.traces()
    assert trace == finished_trace().to_dict()
    assert "prompt_trace" in app_logs.messages()
    [emf] = emf_records(capsys.readouterr().out)
    [directive] = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "LlmTwin"
    assert {metric["Name"]: metric["Unit"] for metric in directive["Metrics"]} == {
        "EmbedLatency": "Milliseconds",
        "SearchLatency": "Milliseconds",
        "GenerateLatency": "Milliseconds",
        "TotalLatency": "Milliseconds",
        "PromptTokens": "Count",
        "GeneratedTokens": "Count",
        "Errors": "Count",
        "ClientDisconnects": "Count",
    }
    assert emf["GenerateLatency"] == [900.0]
    assert emf["Errors"] == [0.0]
    assert emf["model_id"] == "mlabonne/TwinLlama-3.1-8B-DPO"
    assert emf["request_id"] == "req-1"


@pytest.mark.parametrize(
    ("error_code", "errors", "disconnects"),
    [("client_closed", 0.0, 1.0), ("upstream_error", 1.0, 0.0)],
)
def test_a_caller_who_hung_up_is_a_disconnect_not_an_error(
    capsys: pytest.CaptureFixture[str], error_code: str, errors: float, disconnects: float
) -> None:
    trace = finished_trace()
    trace.error_code = error_code

    PowertoolsTraceSink().emit(trace)

    [emf] = emf_records(capsys.readouterr().out)
    assert emf["Errors"] == [errors]
    assert emf["ClientDisconnects"] == [disconnects]


def test_namespace_from_powertools_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "TwinStaging")
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)

    PowertoolsTraceSink().emit(finished_trace())

    [emf] = emf_records(capsys.readouterr().out)
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TwinStaging"


def test_failed_request_counts_as_an_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    trace = PromptTrace("req-2", "m/x", "q", latency_ms={"embed": 3.0, "total": 4.0})
    trace.error_code = "upstream_error"

    PowertoolsTraceSink().emit(trace)

    [emf] = emf_records(capsys.readouterr().out)
    assert emf["Errors"] == [1.0]
    assert "GenerateLatency" not in emf


def test_a_failing_sink_is_logged_not_raised(app_logs: RecordCollector) -> None:
    received: list[PromptTrace] = []

    class Broken:
        def emit(self, trace: PromptTrace) -> None:
            raise ConnectionError("monitoring is down")

    class Keeping:
        def emit(self, trace: PromptTrace) -> None:
            received.append(trace)

    TraceEmitter([Broken(), Keeping()]).emit(finished_trace())

    assert received == [finished_trace()]
    assert "prompt trace sink failed" in app_logs.messages()


def test_opik_enabled_but_missing_fails_at_start_up(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[[], FastAPI]
) -> None:
    monkeypatch.setitem(sys.modules, "opik", None)  # import opik -> ImportError
    monkeypatch.setenv("RAG_OPIK_ENABLED", "true")

    with pytest.raises(SettingsError, match="RAG_OPIK_ENABLED is true but the 'opik' package"):
        make_app()


def test_opik_is_not_imported_unless_enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opik", None)

    emitter = create_trace_emitter(opik_enabled=False)

    assert [type(sink).__name__ for sink in emitter.sinks] == ["PowertoolsTraceSink"]


def test_opik_receives_each_trace(
    monkeypatch: pytest.MonkeyPatch, make_app: Callable[[], FastAPI]
) -> None:
    sent: list[dict[str, Any]] = []
    flushed: list[int | None] = []

    class FakeOpik:
        def trace(self, **fields: Any) -> None:
            sent.append(fields)

        def flush(self, timeout: int | None = None) -> bool:
            flushed.append(timeout)
            return True

    fake_module = types.ModuleType("opik")
    fake_module.Opik = FakeOpik  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "opik", fake_module)
    monkeypatch.setenv("RAG_OPIK_ENABLED", "true")
    app = make_app()
    FakeSageMaker(answer_text="Opik sees this.").install(app.state.pipeline.runtime)

    with TestClient(app) as client:
        response = client.post("/rag", json={"query": "traced?"})

    assert response.status_code == 200
    [fields] = sent
    assert fields["name"] == "rag"
    assert fields["input"]["query"] == "traced?"
    assert fields["output"] == {"answer": "Opik sees this."}
    assert fields["metadata"]["request_id"] == response.headers["x-request-id"]
    # Sent before the response: a frozen Lambda container would otherwise lose it.
    assert flushed == [OPIK_FLUSH_TIMEOUT_S]


class RecordingOpik:
    """Stands in for opik.Opik and keeps the options it was built with."""

    built_with: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, **options: Any) -> None:
        RecordingOpik.built_with.append(options)


@pytest.fixture
def recording_opik(monkeypatch: pytest.MonkeyPatch) -> type[RecordingOpik]:
    RecordingOpik.built_with = []
    fake_module = types.ModuleType("opik")
    fake_module.Opik = RecordingOpik  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "opik", fake_module)
    monkeypatch.setenv("RAG_OPIK_ENABLED", "true")
    return RecordingOpik


def test_opik_is_configured_from_its_secret(
    monkeypatch: pytest.MonkeyPatch,
    make_app: Callable[[], FastAPI],
    recording_opik: type[RecordingOpik],
) -> None:
    secret = {"api_key": "k-123", "workspace": "twin", "url": "https://opik.example/api"}
    with mock_aws():
        boto3.client("secretsmanager").create_secret(
            Name="llm-twin/opik-configured", SecretString=json.dumps(secret)
        )
        monkeypatch.setenv("RAG_OPIK_SECRET_ID", "llm-twin/opik-configured")
        make_app()

    assert recording_opik.built_with == [
        {"api_key": "k-123", "workspace": "twin", "host": "https://opik.example/api"}
    ]


@pytest.mark.parametrize(
    ("secret_string", "message"),
    [
        ('{"api_key": "k", "token": "t"}', "unknown keys ['token']"),
        ('["not", "an", "object"]', "the secret must be a JSON object of strings"),
        (None, "cannot read the secret (ResourceNotFoundException)"),
    ],
)
def test_bad_opik_secret_fails_at_start_up_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch,
    make_app: Callable[[], FastAPI],
    recording_opik: type[RecordingOpik],
    secret_string: str | None,
    message: str,
) -> None:
    name = f"llm-twin/opik-bad-{abs(hash(secret_string))}"
    with mock_aws():
        if secret_string is not None:
            boto3.client("secretsmanager").create_secret(Name=name, SecretString=secret_string)
        monkeypatch.setenv("RAG_OPIK_SECRET_ID", name)
        with pytest.raises(SettingsError, match=re.escape(f"RAG_OPIK_SECRET_ID: {message}")):
            make_app()
    assert recording_opik.built_with == []
