"""The RAG app's own per-request overhead: total time minus the time spent in upstream calls.

Upstreams are in-process fakes: SageMaker answers at botocore's send step (so request
building, signing and parsing still run) and Qdrant is a seeded local-mode store. Upstream
time is what the app's own prompt trace reports for embed, search, rerank and generate; the
rest is routing, validation, prompt building, tracing, metrics and the Lambda adapter. Also
shows how throughput scales with 8 concurrent clients against a slow fake model. Prints
numbers only: nothing here asserts a timing.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import httpx
from botocore.awsrequest import AWSPreparedRequest, AWSResponse  # type: ignore[import-untyped]
from fastapi import FastAPI
from mangum import Mangum
from mangum.types import LambdaCognitoIdentity, LambdaMobileClientContext
from rag_fixtures import (
    EMBEDDING_COMPONENT,
    LAMBDA_SRC,
    api_gateway_event,
    canned_answer,
    environment_without_app_settings,
    rag_settings,
    seed_qdrant,
)
from urllib3.response import HTTPResponse

WARMUP = 30
REQUESTS = 400
UPSTREAM_STEPS = ("embed", "search", "rerank", "generate")
CONCURRENT_CLIENTS = 8
SLOW_MODEL_S = 0.05
CONCURRENT_ROUNDS = 10


def set_rag_environment(qdrant_path: Path) -> None:
    wanted = {**environment_without_app_settings(), **rag_settings(qdrant_path)}
    os.environ.clear()
    os.environ.update(wanted)


class FakeSageMaker:
    """TEI/TGI answers returned at botocore's send step, after an optional model delay."""

    def __init__(self, model_delay_s: float = 0.0) -> None:
        self.model_delay_s = model_delay_s

    def send(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse:
        component = request.headers["X-Amzn-SageMaker-Inference-Component"]
        if isinstance(component, bytes):
            component = component.decode()
        if component != EMBEDDING_COMPONENT:
            time.sleep(self.model_delay_s)
        data = json.dumps(canned_answer(component)).encode()
        raw = HTTPResponse(body=io.BytesIO(data), status=200, preload_content=False)
        headers = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        return AWSResponse(request.url, 200, headers, raw)


class TraceTimes(logging.Handler):
    """Collects each prompt trace's step latencies from the app's logger."""

    def __init__(self) -> None:
        super().__init__()
        self.latencies: list[dict[str, float]] = []

    def emit(self, record: logging.LogRecord) -> None:
        trace = getattr(record, "prompt_trace", None)
        if trace is not None:
            self.latencies.append(trace["latency_ms"])


@contextmanager
def quiet_app_output(app_logger: logging.Logger) -> Iterator[None]:
    """Log lines and EMF still get serialized and written, to /dev/null instead of the screen."""
    streams = [h for h in app_logger.handlers if isinstance(h, logging.StreamHandler)]
    with open(os.devnull, "w") as devnull, redirect_stdout(devnull):
        previous = [handler.setStream(devnull) for handler in streams]
        try:
            yield
        finally:
            for handler, stream in zip(streams, previous, strict=True):
                if stream is not None:
                    handler.setStream(stream)


class LambdaContext:
    """The context fields Mangum's type names."""

    function_name = "llm-twin-rag"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:llm-twin-rag"
    memory_limit_in_mb = 1024
    aws_request_id = "bench"
    log_group_name = "/aws/lambda/llm-twin-rag"
    log_stream_name = "bench"
    identity: LambdaCognitoIdentity | None = None
    client_context: LambdaMobileClientContext | None = None

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def overheads_ms(totals_s: list[float], latencies: list[dict[str, float]]) -> list[float]:
    return [
        total * 1000 - sum(steps.get(step, 0.0) for step in UPSTREAM_STEPS)
        for total, steps in zip(totals_s, latencies, strict=True)
    ]


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def step_medians(latencies: list[dict[str, float]]) -> str:
    steps = [step for step in UPSTREAM_STEPS if any(step in entry for entry in latencies)]
    return ", ".join(
        f"{step} {statistics.median(entry[step] for entry in latencies):.2f} ms" for step in steps
    )


def through_mangum(app: FastAPI, times: TraceTimes) -> list[float]:
    handler = Mangum(app, lifespan="off")
    totals: list[float] = []
    for i in range(WARMUP + REQUESTS):
        event = api_gateway_event(f"How do RAG systems use retrieval? #{i}")
        before = time.perf_counter()
        response = handler(event, LambdaContext())
        totals.append(time.perf_counter() - before)
        if response["statusCode"] != 200:
            raise SystemExit(f"request failed: {response}")
    return overheads_ms(totals[WARMUP:], times.latencies[WARMUP:])


async def through_asgi(app: FastAPI, times: TraceTimes) -> list[float]:
    totals: list[float] = []
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://rag") as client:
        for i in range(WARMUP + REQUESTS):
            before = time.perf_counter()
            response = await client.post("/rag", json={"query": f"Why RAG? #{i}"})
            totals.append(time.perf_counter() - before)
            response.raise_for_status()
    return overheads_ms(totals[WARMUP:], times.latencies[WARMUP:])


async def concurrent_throughput(app: FastAPI, clients: int) -> float:
    """Requests per second with `clients` callers each sending requests back to back."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://rag") as client:

        async def caller(index: int) -> None:
            for round_ in range(CONCURRENT_ROUNDS):
                response = await client.post("/rag", json={"query": f"q {index}.{round_}"})
                response.raise_for_status()

        await caller(0)  # warm-up
        before = time.perf_counter()
        await asyncio.gather(*(caller(i) for i in range(clients)))
        return clients * CONCURRENT_ROUNDS / (time.perf_counter() - before)


def report(label: str, overheads: list[float]) -> None:
    print(
        f"  {label}: p50 {statistics.median(overheads):.2f} ms, "
        f"p95 {percentile(overheads, 0.95):.2f} ms (n={len(overheads)})"
    )


def main() -> None:
    # As in the Lambda package: the app's code sits at the top of the path.
    sys.path.insert(0, str(LAMBDA_SRC))
    from rag_app.log import SERVICE_NAME
    from rag_app.main import create_app

    app_logger = logging.getLogger(SERVICE_NAME)
    with tempfile.TemporaryDirectory() as workdir:
        qdrant_path = Path(workdir) / "qdrant"
        seed_qdrant(qdrant_path)
        set_rag_environment(qdrant_path)
        times = TraceTimes()
        app_logger.addHandler(times)

        app = create_app()
        app.state.pipeline.runtime.client.meta.events.register(
            "before-send.sagemaker-runtime.InvokeEndpoint", FakeSageMaker().send
        )
        with quiet_app_output(app_logger):
            mangum_overheads = through_mangum(app, times)
            upstream_steps = step_medians(times.latencies[WARMUP:])
            times.latencies.clear()
            asgi_overheads = asyncio.run(through_asgi(app, times))
        app.state.pipeline.store.close()

        slow_app = create_app()
        slow_model = FakeSageMaker(model_delay_s=SLOW_MODEL_S)
        slow_app.state.pipeline.runtime.client.meta.events.register(
            "before-send.sagemaker-runtime.InvokeEndpoint", slow_model.send
        )
        with quiet_app_output(app_logger):
            single = asyncio.run(concurrent_throughput(slow_app, 1))
            parallel = asyncio.run(concurrent_throughput(slow_app, CONCURRENT_CLIENTS))
        slow_app.state.pipeline.store.close()

    print("app overhead per request (total minus embed/search/rerank/generate time):")
    report("via Mangum, API Gateway REST events (Lambda path)", mangum_overheads)
    report("via ASGI, httpx in-process (uvicorn path)        ", asgi_overheads)
    print(f"  (fake upstream time, medians: {upstream_steps})")
    print(f"concurrency with a fake model that takes {SLOW_MODEL_S * 1000:.0f} ms per generation:")
    print(f"  1 client:  {single:.1f} req/s")
    print(
        f"  {CONCURRENT_CLIENTS} clients: {parallel:.1f} req/s "
        f"({parallel / (single * CONCURRENT_CLIENTS):.0%} of {CONCURRENT_CLIENTS}x one client)"
    )


if __name__ == "__main__":
    main()
