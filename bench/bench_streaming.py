"""Streaming through the RAG API against the local endpoint's own stream, for each engine.

For each question the API answers a streamed POST /v1/chat/completions (greedy), then the
exact LLM request the app made is replayed straight to the local endpoint with boto3's
InvokeEndpointWithResponseStream, and both are timed to their first content token and to
their end. Time to first token through the API minus the request's embed and search time
(from its prompt trace) against the endpoint's own: target at most 1.1x. Streamed tokens/s
after the first token through the API against the endpoint's: target at least 95 %. Each
ratio is the median over pairs (the same question in the same round; rounds alternate
which side goes first), since this machine's speed drifts by 10 % between identical runs. Prints numbers
only: nothing here asserts a timing.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from local_stack import (
    Timing,
    event_content,
    invocations,
    runtime_client,
    started_stack,
    time_streamed_answer,
)

REPO = Path(__file__).resolve().parents[1]
MAX_TOKENS = 96
# One context chunk: a short prefill, so the rounds fit in minutes on two cores.
CONTEXT_CHUNKS = 1
ROUNDS = 4
QUESTIONS = [
    "How many lantern moths were counted on Skerry Holm in 2023?",
    "After how many seconds does Tidewell retry a failed job?",
    "What port does the tidewell dashboard listen on?",
    "How much did the copper kettle cache cut the p99 latency?",
]
TARGET_TTFT_RATIO = 1.1
TARGET_RATE_RATIO = 0.95


def content_of(data: bytes) -> list[str]:
    """Content deltas in a chunk of SSE text (TGI token events or OpenAI chunks)."""
    events = [
        json.loads(line.removeprefix("data:"))
        for line in data.decode().split("\n")
        if line.startswith("data:") and not line.endswith("[DONE]")
    ]
    return [text for event in events if (text := event_content(event))]


def through_endpoint(runtime: Any, endpoint: str, component: str, body: Any) -> Timing:
    started = time.perf_counter()
    response = runtime.invoke_endpoint_with_response_stream(
        EndpointName=endpoint,
        InferenceComponentName=component,
        ContentType="application/json",
        Body=json.dumps(body),
    )
    first, tokens, pending = 0.0, 0, b""
    for event in response["Body"]:
        pending += event["PayloadPart"]["Bytes"]
        *complete, pending = pending.split(b"\n\n")
        for data in complete:
            if content_of(data + b"\n"):
                tokens += 1
                first = first or time.perf_counter() - started
    return Timing(first, time.perf_counter() - started, tokens)


def traces(log: Path) -> dict[str, dict[str, Any]]:
    """Prompt traces from the API's JSON log, by request id."""
    found = {}
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{") and '"prompt_trace"' in line:
            trace = json.loads(line)["prompt_trace"]
            found[trace["request_id"]] = trace
    return found


def measure(engine: str, model: str) -> None:
    from model_config import load_config

    config = load_config(model)
    names = config.names
    print(
        f"== {engine} contract (config {config.name}): {len(QUESTIONS)} questions x {ROUNDS} "
        f"rounds, max_tokens={MAX_TOKENS}, greedy"
    )
    api_runs: list[Timing] = []
    endpoint_runs: list[Timing] = []
    retrieval_ms: list[float] = []
    with (
        started_stack(config) as stack,
        httpx.Client(base_url=stack.ports.api_url, timeout=120) as api,
    ):
        endpoint_url = stack.ports.endpoint_url
        api_log = stack.api_log_path
        assert api_log is not None, "the API's traces are read from its own log"
        runtime = runtime_client(stack.ports, read_timeout=120)

        def through_api(question: str) -> Timing:
            return time_streamed_answer(
                api, config.llm.model_id, question, max_tokens=MAX_TOKENS, rag={"k": CONTEXT_CHUNKS}
            )

        def api_side(question: str) -> Timing:
            timing = through_api(question)
            latency = traces(api_log)[timing.request_id]["latency_ms"]
            retrieval_ms.append(latency["embed"] + latency["search"])
            return timing

        # The exact LLM request the app makes for each question, to replay.
        bodies = {}
        for question in QUESTIONS:
            mark = len(invocations(endpoint_url))
            through_api(question)  # also warms both sides
            (call,) = [
                c for c in invocations(endpoint_url)[mark:] if c["component"] == names.llm_component
            ]
            bodies[question] = call["stats"]["request"]
        # Each side asks every question in turn, never one question twice in a row:
        # llama.cpp would reuse the KV cache of an identical prompt and skip prefill.
        for round_ in range(ROUNDS):
            sides = ["api", "endpoint"] if round_ % 2 == 0 else ["endpoint", "api"]
            for side in sides:
                for question in QUESTIONS:
                    if side == "api":
                        api_runs.append(api_side(question))
                    else:
                        endpoint_runs.append(
                            through_endpoint(
                                runtime, names.endpoint, names.llm_component, bodies[question]
                            )
                        )

    pairs = list(zip(api_runs, endpoint_runs, retrieval_ms, strict=True))
    ttft_ratio = statistics.median(
        (api.first_s - ms / 1000) / endpoint.first_s for api, endpoint, ms in pairs
    )
    rate_ratio = statistics.median(
        api.tokens_per_s / endpoint.tokens_per_s for api, endpoint, _ in pairs
    )
    print(
        f"time to first token (medians): API {statistics.median(t.first_s for t in api_runs) * 1000:.0f} ms, "
        f"of which embed + search {statistics.median(retrieval_ms):.0f} ms; "
        f"endpoint {statistics.median(t.first_s for t in endpoint_runs) * 1000:.0f} ms"
    )
    verdict = "within" if ttft_ratio <= TARGET_TTFT_RATIO else "ABOVE"
    print(
        f"TTFT through the API minus retrieval / endpoint's ({engine}): {ttft_ratio:.2f}x "
        f"({verdict} the {TARGET_TTFT_RATIO}x target)"
    )
    verdict = "meets" if rate_ratio >= TARGET_RATE_RATIO else "BELOW"
    print(
        f"streamed tokens/s ({engine}, medians): API "
        f"{statistics.median(t.tokens_per_s for t in api_runs):.1f}, endpoint "
        f"{statistics.median(t.tokens_per_s for t in endpoint_runs):.1f}; paired ratio "
        f"{rate_ratio * 100:.1f} % ({verdict} the {TARGET_RATE_RATIO * 100:.0f} % target)"
    )


def main() -> None:
    sys.path.insert(0, str(REPO))
    from engines import for_each_engine

    for_each_engine(measure)


if __name__ == "__main__":
    main()
