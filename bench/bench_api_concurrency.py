"""Throughput of the RAG API with 8 concurrent clients against the local endpoint's own, for a
config on each serving engine.

Phase 1 sends POST /rag from 8 concurrent clients to the real app (embed, search, generate).
Phase 2 replays the exact LLM requests the app made (vLLM's or TGI's contract), straight to
the local endpoint through boto3, again from 8 concurrent clients. The LLM serializes
generations, so if the API does not serialize requests itself its throughput stays close to
the endpoint's. Target: at least 90 %. Prints numbers only: nothing here asserts a timing.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
from local_stack import invocations, runtime_client, started_stack

REPO = Path(__file__).resolve().parents[1]
CLIENTS = 8
REQUESTS = 16
MAX_NEW_TOKENS = 16
# One context chunk keeps the prompt short: on two CPU cores prefill dominates, and 8 queued
# requests must finish inside the app's own 25 s deadline.
CONTEXT_CHUNKS = 1
TARGET_RATIO = 0.90
QUESTIONS = [
    "How many lantern moths were counted on Skerry Holm in 2023?",
    "After how many seconds does Tidewell retry a failed job?",
    "What port does the tidewell dashboard listen on?",
    "How much did the copper kettle cache cut the p99 latency?",
    "How long does each person speak at the brass hourglass standup?",
    "How many pallets did Otterly count correctly?",
    "What wavelength is the lamp used for the moth census?",
    "Which license is tidewell released under?",
]


def concurrently(work: list[Any], call: Any) -> tuple[float, list[Any]]:
    """Run `call` over `work` from CLIENTS threads; wall-clock seconds and results."""
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(call, work))
    return time.perf_counter() - started, results


def generated(records: list[dict[str, Any]], component: str) -> list[dict[str, Any]]:
    return [r for r in records if r["component"] == component and r["status"] == 200]


def main() -> None:
    sys.path.insert(0, str(REPO))
    from engines import for_each_engine

    for_each_engine(measure)


def measure(engine: str, model: str) -> None:
    """Both phases for one engine's config, printed."""
    from model_config import load_config

    config = load_config(model)
    names = config.names
    print(
        f"== {engine} contract: {REQUESTS} requests from {CLIENTS} concurrent clients, "
        f"k={CONTEXT_CHUNKS}, max_new_tokens={MAX_NEW_TOKENS}, config {config.name}"
    )
    with started_stack(config) as stack:
        endpoint_url = stack.ports.endpoint_url
        api = httpx.Client(
            base_url=stack.ports.api_url,
            timeout=300,
            limits=httpx.Limits(max_connections=CLIENTS),
        )

        def ask(question: str) -> int:
            body = {"query": question, "max_new_tokens": MAX_NEW_TOKENS, "k": CONTEXT_CHUNKS}
            return api.post("/rag", json=body).status_code

        # Warm-up: first requests open the store and the boto3 client inside the app.
        for question in QUESTIONS[:2]:
            ask(question)
        mark = len(invocations(endpoint_url))
        work = [QUESTIONS[i % len(QUESTIONS)] for i in range(REQUESTS)]
        api_seconds, statuses = concurrently(work, ask)
        api_calls = generated(invocations(endpoint_url)[mark:], names.llm_component)

        runtime = runtime_client(stack.ports, read_timeout=300, max_pool_connections=CLIENTS)

        def replay(body: dict[str, Any]) -> int:
            response = runtime.invoke_endpoint(
                EndpointName=names.endpoint,
                InferenceComponentName=names.llm_component,
                ContentType="application/json",
                Body=json.dumps(body),
            )
            response["Body"].read()
            return int(response["ResponseMetadata"]["HTTPStatusCode"])

        mark = len(invocations(endpoint_url))
        bodies = [call["stats"]["request"] for call in api_calls]
        endpoint_seconds, replay_statuses = concurrently(bodies, replay)
        replay_calls = generated(invocations(endpoint_url)[mark:], names.llm_component)

    ok = sum(status == 200 for status in statuses)
    api_tokens = sum(call["stats"]["generated_tokens"] for call in api_calls)
    endpoint_tokens = sum(call["stats"]["generated_tokens"] for call in replay_calls)
    api_rps, endpoint_rps = ok / api_seconds, len(bodies) / endpoint_seconds
    print(
        f"API      : {ok}/{REQUESTS} answered in {api_seconds:.2f} s = {api_rps:.3f} req/s, "
        f"{api_tokens / api_seconds:.1f} generated tok/s"
    )
    print(
        f"endpoint : {sum(s == 200 for s in replay_statuses)}/{len(bodies)} same generations in "
        f"{endpoint_seconds:.2f} s = {endpoint_rps:.3f} req/s, "
        f"{endpoint_tokens / endpoint_seconds:.1f} generated tok/s"
    )
    ratio = api_rps / endpoint_rps
    token_ratio = (api_tokens / api_seconds) / (endpoint_tokens / endpoint_seconds)
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(
        f"API / endpoint throughput ({engine}): {ratio * 100:.1f} % of requests/s, "
        f"{token_ratio * 100:.1f} % of tokens/s ({verdict} the {TARGET_RATIO * 100:.0f} % target)"
    )


if __name__ == "__main__":
    main()
