"""A local batch's throughput against the same lines sent concurrently to the online route.

One run, the default config, the local stack with real models. Phase 1 sends LINES chat
requests to POST /v1/chat/completions from as many concurrent clients as the batch runner
uses (the config's batch concurrency: max LLM copies x target requests per copy). Phase 2
submits the same requests as one batch through the official `openai` SDK and times it from
`batches.create` until the SDK sees it completed. The runner adds only polling and disk
writes, so the batch should reach at least 90 % of the online throughput. Prints numbers
only: nothing here asserts a timing.
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from bench_api_concurrency import QUESTIONS  # noqa: E402
from local_stack import started_stack  # noqa: E402

MODEL = "twin-llama-3.1-8b"
LINES = 24
MAX_TOKENS = 8
TARGET_RATIO = 0.90
POLL_S = 0.1


def chat_body(model_id: str, n: int) -> dict[str, Any]:
    question = QUESTIONS[n % len(QUESTIONS)]
    return {
        "model": model_id,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": MAX_TOKENS,
    }


def main() -> None:
    import httpx
    import openai

    from model_config import load_config

    config = load_config(MODEL)
    concurrency = config.batch_concurrency
    bodies = [chat_body(config.llm.model_id, n) for n in range(LINES)]
    print(
        f"== {LINES} chat requests, max_tokens={MAX_TOKENS}, concurrency {concurrency} "
        f"(config {config.name}: batch concurrency)"
    )
    with started_stack(config) as stack:
        api_url = stack.ports.api_url
        limits = httpx.Limits(max_connections=concurrency)
        with httpx.Client(base_url=api_url, timeout=300, limits=limits) as api:
            # Warm-up: the first requests open the store and the app's clients.
            for body in bodies[:2]:
                api.post("/v1/chat/completions", json=body).raise_for_status()
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=concurrency) as pool:
                answers = list(pool.map(lambda b: api.post("/v1/chat/completions", json=b), bodies))
            online_s = time.perf_counter() - started
        online_ok = [a.json() for a in answers if a.status_code == 200]

        sdk = openai.OpenAI(base_url=f"{api_url}/v1", api_key="local", max_retries=0)
        lines = [
            {
                "custom_id": f"line-{n}",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": b,
            }
            for n, b in enumerate(bodies)
        ]
        content = "".join(json.dumps(line) + "\n" for line in lines).encode()
        file = sdk.files.create(file=("bench.jsonl", content), purpose="batch")
        started = time.perf_counter()
        batch = sdk.batches.create(
            input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        while batch.status not in ("completed", "failed", "cancelled", "expired"):
            time.sleep(POLL_S)
            batch = sdk.batches.retrieve(batch.id)
        batch_s = time.perf_counter() - started
        output = sdk.files.content(batch.output_file_id).text if batch.output_file_id else ""

    batch_ok = [json.loads(text)["response"]["body"] for text in output.splitlines()]
    online_tokens = sum(a["usage"]["completion_tokens"] for a in online_ok)
    batch_tokens = sum(b["usage"]["completion_tokens"] for b in batch_ok)
    online_rps, batch_rps = len(online_ok) / online_s, len(batch_ok) / batch_s
    print(
        f"online : {len(online_ok)}/{LINES} answered in {online_s:.2f} s = {online_rps:.3f} "
        f"req/s, {online_tokens / online_s:.1f} generated tok/s"
    )
    print(
        f"batch  : {len(batch_ok)}/{LINES} answered in {batch_s:.2f} s = {batch_rps:.3f} "
        f"req/s, {batch_tokens / batch_s:.1f} generated tok/s (status {batch.status})"
    )
    ratio = batch_rps / online_rps
    token_ratio = (batch_tokens / batch_s) / (online_tokens / online_s)
    verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
    print(
        f"batch / online throughput: {ratio * 100:.1f} % of requests/s, "
        f"{token_ratio * 100:.1f} % of tokens/s ({verdict} the {TARGET_RATIO * 100:.0f} % target)"
    )


if __name__ == "__main__":
    main()
