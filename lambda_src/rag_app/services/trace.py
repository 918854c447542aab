"""The prompt trace: one record per request, to the logs, EMF metrics and optionally Opik."""

from __future__ import annotations

import importlib
import os
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from rag_app.log import SERVICE_NAME, logger
from rag_app.settings import SettingsError

DEFAULT_METRICS_NAMESPACE = "LlmTwin"
# Step latencies and their EMF metric names.
STEPS = {
    "expand": "ExpandLatency",
    "self_query": "SelfQueryLatency",
    "embed": "EmbedLatency",
    "search": "SearchLatency",
    "fuse": "FuseLatency",
    "rerank": "RerankLatency",
    "generate": "GenerateLatency",
    "total": "TotalLatency",
}
# Latencies from the request's start rather than of one step; EMF metric names beside them.
MILESTONES = {"first_token": "TimeToFirstToken"}
# The error code of a request whose caller hung up: counted apart from the errors.
CLIENT_CLOSED = "client_closed"


@dataclass
class RetrievedRef:
    """A retrieved chunk as the trace shows it."""

    collection: str
    point_id: str
    score: float


@dataclass
class PromptTrace:
    """What happened in one request, step by step."""

    request_id: str
    model_id: str
    query: str
    # "rag" (POST /rag) or "chat" (POST /v1/chat/completions); streamed: sent as it came.
    route: str = "rag"
    streamed: bool = False
    retrieved: list[RetrievedRef] = field(default_factory=list)
    # What the retrieval searched: the question and its rewrites, the author self-query
    # read (and whether the search was filtered on them), and the steps that fell back.
    phrasings: list[str] = field(default_factory=list)
    author: str | None = None
    author_filtered: bool = False
    fallbacks: list[str] = field(default_factory=list)
    # The model input: a text, or the chat messages as JSON.
    prompt: str | None = None
    answer: str | None = None
    prompt_tokens_estimate: int | None = None
    # Counted by the engine, when it reports them.
    prompt_tokens: int | None = None
    generated_tokens: int | None = None
    finish_reason: str | None = None
    # Earlier conversation turns that fitted the input budget.
    history_turns: int = 0
    latency_ms: dict[str, float] = field(default_factory=dict)
    error_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready copy."""
        return asdict(self)


class TraceSink(Protocol):
    """Somewhere prompt traces go."""

    def emit(self, trace: PromptTrace) -> None:
        """Record one trace; must not raise for a bad trace."""


class PowertoolsTraceSink:
    """The trace as a structured log line (key `prompt_trace`) plus EMF metrics."""

    def __init__(self, namespace: str | None = None) -> None:
        self.namespace = (
            namespace or os.getenv("POWERTOOLS_METRICS_NAMESPACE") or DEFAULT_METRICS_NAMESPACE
        )

    def emit(self, trace: PromptTrace) -> None:
        """Log the record and flush this request's metrics."""
        logger.info("prompt_trace", extra={"prompt_trace": trace.to_dict()})
        # Ephemeral: concurrent requests must not share one metric buffer.
        metrics = EphemeralMetrics(namespace=self.namespace, service=SERVICE_NAME)
        metrics.add_dimension(name="model_id", value=trace.model_id)
        for step, name in STEPS.items():
            if step in trace.latency_ms:
                metrics.add_metric(
                    name=name, unit=MetricUnit.Milliseconds, value=trace.latency_ms[step]
                )
        for milestone, name in MILESTONES.items():
            if milestone in trace.latency_ms:
                metrics.add_metric(
                    name=name, unit=MetricUnit.Milliseconds, value=trace.latency_ms[milestone]
                )
        if trace.prompt_tokens_estimate is not None:
            metrics.add_metric(
                name="PromptTokens", unit=MetricUnit.Count, value=trace.prompt_tokens_estimate
            )
        if trace.generated_tokens is not None:
            metrics.add_metric(
                name="GeneratedTokens", unit=MetricUnit.Count, value=trace.generated_tokens
            )
        closed = trace.error_code == CLIENT_CLOSED
        failed = bool(trace.error_code) and not closed
        metrics.add_metric(name="Errors", unit=MetricUnit.Count, value=int(failed))
        metrics.add_metric(name="ClientDisconnects", unit=MetricUnit.Count, value=int(closed))
        metrics.add_metadata(key="request_id", value=trace.request_id)
        metrics.flush_metrics()


# Keys of the Opik secret -> arguments of opik.Opik().
OPIK_SECRET_KEYS = {
    "api_key": "api_key",
    "workspace": "workspace",
    "url": "host",
    "project_name": "project_name",
}
OPIK_FLUSH_TIMEOUT_S = 2


class OpikTraceSink:
    """The trace sent to Opik, configured from a secret or Opik's own OPIK_* variables."""

    def __init__(self, secret_id: str | None = None) -> None:
        try:
            opik = importlib.import_module("opik")
        except ImportError:
            raise SettingsError(
                "RAG_OPIK_ENABLED is true but the 'opik' package is not installed: "
                "add it to lambda_src/requirements.txt or set RAG_OPIK_ENABLED=false"
            ) from None
        options = read_opik_secret(secret_id) if secret_id else {}
        self.client = opik.Opik(**options)

    def emit(self, trace: PromptTrace) -> None:
        """Send the trace before answering: Lambda may freeze the container right after."""
        self.client.trace(
            name="rag",
            input={"query": trace.query, "prompt": trace.prompt},
            output={"answer": trace.answer},
            metadata=trace.to_dict(),
            tags=[trace.model_id],
        )
        self.client.flush(timeout=OPIK_FLUSH_TIMEOUT_S)


def read_opik_secret(secret_id: str) -> dict[str, str]:
    """Opik client options from a Secrets Manager JSON secret, or SettingsError."""
    from aws_lambda_powertools.utilities.parameters import get_secret

    try:
        secret = get_secret(secret_id, transform="json")
    except Exception as err:
        # Powertools wraps the AWS error; its code (e.g. AccessDeniedException) is the clue.
        cause = err.__cause__ or err.__context__ or err
        code = getattr(cause, "response", {}).get("Error", {}).get("Code")
        raise SettingsError(
            f"RAG_OPIK_SECRET_ID: cannot read the secret ({code or type(cause).__name__})"
        ) from None
    if not isinstance(secret, dict) or not all(isinstance(v, str) for v in secret.values()):
        raise SettingsError("RAG_OPIK_SECRET_ID: the secret must be a JSON object of strings")
    unknown = sorted(set(secret) - set(OPIK_SECRET_KEYS))
    if unknown:
        allowed = ", ".join(OPIK_SECRET_KEYS)
        raise SettingsError(f"RAG_OPIK_SECRET_ID: unknown keys {unknown}; use {allowed}")
    return {OPIK_SECRET_KEYS[key]: value for key, value in secret.items()}


class TraceEmitter:
    """Hands each trace to every sink; a failing sink never fails the request."""

    def __init__(self, sinks: list[TraceSink]) -> None:
        self.sinks = sinks

    def emit(self, trace: PromptTrace) -> None:
        """Send `trace` everywhere, logging (not raising) sink failures."""
        for sink in self.sinks:
            try:
                sink.emit(trace)
            except Exception:
                logger.exception("prompt trace sink failed", extra={"sink": type(sink).__name__})


def create_trace_emitter(opik_enabled: bool, opik_secret_id: str | None = None) -> TraceEmitter:
    """The sinks the settings ask for; fails at start-up if Opik is wanted but missing."""
    sinks: list[TraceSink] = [PowertoolsTraceSink()]
    if opik_enabled:
        sinks.append(OpikTraceSink(opik_secret_id))
    return TraceEmitter(sinks)
