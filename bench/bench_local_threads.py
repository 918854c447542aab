"""The demo's answer with llama.cpp on one thread against every core, in one run.

`make demo` asks one question through the local stack (smollm2-1.7b's chat format, the sample
corpus as context). Here the same stack is started twice, once with LOCAL_LLM_THREADS=1 (the
old default on two cores: half of them) and once with every core (the default now), and each
answers the same questions greedily, streamed: time to first token (prefill of the RAG prompt
dominates it) and time to the whole answer. Prints numbers only.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path

import httpx
from local_stack import seed_store, started_stack, time_streamed_answer

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


def measure(threads: int, store: Path) -> tuple[list[float], list[float]]:
    """Seconds to the first token and to the whole answer, per question, on `threads` threads."""
    from model_config import load_config

    config = load_config(MODEL)
    model_id = config.llm.model_id
    with (
        started_stack(config, store=store, threads=threads) as stack,
        httpx.Client(base_url=stack.ports.api_url, timeout=300) as api,
    ):
        warm_up = "Warm-up: who hiked the Varn ridge?"
        time_streamed_answer(api, model_id, warm_up, max_tokens=MAX_TOKENS)
        runs = [
            time_streamed_answer(api, model_id, question, max_tokens=MAX_TOKENS)
            for _ in range(ROUNDS)
            for question in QUESTIONS
        ]
    return [run.first_s for run in runs], [run.total_s for run in runs]


def main() -> None:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
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
