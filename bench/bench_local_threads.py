"""The demo's answer with llama.cpp on one thread against every core, in one run.

`make demo` asks one question through the local stack (smollm2-1.7b's chat format, the sample
corpus as context). Here the same stack is started twice, once with LOCAL_LLM_THREADS=1 (the
old default on two cores: half of them) and once with every core (the default now), and each
answers the same questions greedily, streamed: time to first token (prefill of the RAG prompt
dominates it) and time to the whole answer. Prints numbers only.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
MODEL = "smollm2-1.7b"
MAX_TOKENS = 32
# Different questions in turn: llama.cpp would reuse the KV cache of a repeated prompt.
QUESTIONS = [
    "How many lantern moths were counted on Skerry Holm in 2023?",
    "After how many seconds does Tidewell retry a failed job?",
    "What port does the tidewell dashboard listen on?",
    "How much did the copper kettle cache cut the p99 latency?",
]
ROUNDS = 2


def ask(api: httpx.Client, model_id: str, question: str) -> tuple[float, float]:
    """Seconds to the first content token and to the end of a streamed, greedy answer."""
    body = {
        "model": model_id,
        "messages": [{"role": "user", "content": question}],
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream": True,
    }
    started = time.perf_counter()
    first = 0.0
    with api.stream("POST", "/v1/chat/completions", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not first and '"content":"' in line and '"content":""' not in line:
                first = time.perf_counter() - started
    return first, time.perf_counter() - started


def measure(threads: int, store: Path) -> tuple[list[float], list[float]]:
    from bench_streaming import free_port

    from local.llm import THREADS_ENV
    from local.processes import LocalStack
    from local.settings import Ports
    from model_config import load_config

    config = load_config(MODEL)
    os.environ[THREADS_ENV] = str(threads)
    ports = Ports(endpoint=free_port(), api=free_port())
    with tempfile.TemporaryDirectory() as tmp:
        stack = LocalStack(
            config,
            store,
            ports,
            log_path=Path(tmp) / "endpoint.log",
            api_log_path=Path(tmp) / "api.log",
        )
        stack.start()
        try:
            with httpx.Client(base_url=ports.api_url, timeout=300) as api:
                ask(api, config.llm.model_id, "Warm-up: who hiked the Varn ridge?")
                runs = [
                    ask(api, config.llm.model_id, question)
                    for _ in range(ROUNDS)
                    for question in QUESTIONS
                ]
        finally:
            stack.stop()
    return [first for first, _ in runs], [total for _, total in runs]


def main() -> None:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from bench_api_concurrency import seed_store

    from local.llm import default_threads

    every = default_threads()
    print(
        f"{MODEL} demo questions, greedy, max_tokens={MAX_TOKENS}, {len(QUESTIONS)} x {ROUNDS} "
        f"each: llama.cpp on 1 thread against {every} (this machine's cores)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = Path(tmp) / "qdrant"
        seed_store(store, MODEL)
        results = {threads: measure(threads, store) for threads in (1, every)}
    for threads, (firsts, totals) in results.items():
        print(
            f"  {threads} thread(s): time to first token {statistics.median(firsts):.2f} s, "
            f"whole answer {statistics.median(totals):.2f} s (medians)"
        )
    one, many = results[1], results[every]
    print(
        f"every core / one thread: first token {statistics.median(many[0]) / statistics.median(one[0]):.2f}x, "
        f"whole answer {statistics.median(many[1]) / statistics.median(one[1]):.2f}x"
    )


if __name__ == "__main__":
    main()
