"""What query expansion and self-query cost: time to first token and total latency of a
streamed chat answer with each technique off and on, through the local stack, per engine.

Each question is asked under every variant back to back, in an order that rotates from one
question to the next, so a pair compared is measured within a minute on a machine whose speed
drifts; ratios to the plain path are medians over those pairs. `python
bench/bench_advanced_rag.py [engine]` runs one engine; ADVANCED_RAG_ROUNDS sets the rounds. Also counts the LLM
calls each request made at the local endpoint. Target: both techniques together add at most
one helper round trip to TTFT (they run concurrently): TTFT both <= TTFT plain + the longer
helper step + 10 %. Prints numbers only: nothing here asserts a timing.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from local_stack import invocations, started_stack, time_streamed_answer

REPO = Path(__file__).resolve().parents[1]
MAX_TOKENS = 32
ROUNDS = int(os.environ.get("ADVANCED_RAG_ROUNDS", "2"))
QUESTIONS = [
    "How many lantern moths did Ilse Marrow count on Skerry Holm in 2023?",
    "After how many seconds does Tidewell retry a failed job?",
    "How long is the Varn ridge walk that Tomas Reyes-Lind describes?",
    "How much did the copper kettle cache cut the p99 latency?",
]
VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {"query_expansion": 1, "self_query": False},
    "expansion (3 phrasings)": {"query_expansion": 3, "self_query": False},
    "self-query": {"query_expansion": 1, "self_query": True},
    "both": {"query_expansion": 3, "self_query": True},
}
TARGET_MARGIN = 1.1


@dataclass
class Run:
    """One streamed answer: seconds to the first content token and to the end, and its report."""

    first_s: float
    total_s: float
    llm_calls: int
    latency_ms: dict[str, float]
    retrieval: dict[str, Any]


def ask(api: httpx.Client, model_id: str, question: str, options: dict[str, Any]) -> Run:
    timing = time_streamed_answer(
        api, model_id, question, max_tokens=MAX_TOKENS, rag={**options, "return_retrieved": True}
    )
    first, total, report = timing.first_s, timing.total_s, timing.report
    return Run(first or total, total, 0, report.get("latency_ms", {}), report["retrieval"])


def measure(engine: str, model: str) -> None:
    from model_config import load_config

    config = load_config(model)
    print(
        f"== {engine} contract (config {config.name}): {len(QUESTIONS)} questions x {ROUNDS} "
        f"rounds x {len(VARIANTS)} variants, streamed chat, max_tokens={MAX_TOKENS}, greedy"
    )
    runs: dict[str, list[Run]] = {name: [] for name in VARIANTS}
    with (
        started_stack(config) as stack,
        httpx.Client(base_url=stack.ports.api_url, timeout=300) as api,
    ):
        endpoint_url = stack.ports.endpoint_url
        # Warm both models and the app once, unmeasured.
        ask(api, config.llm.model_id, QUESTIONS[-1], VARIANTS["both"])
        names = list(VARIANTS)
        for round_ in range(ROUNDS):
            for index, question in enumerate(QUESTIONS):
                shift = (round_ * len(QUESTIONS) + index) % len(names)
                for name in names[shift:] + names[:shift]:
                    mark = len(invocations(endpoint_url))
                    run = ask(api, config.llm.model_id, question, VARIANTS[name])
                    run.llm_calls = sum(
                        call["component"] == config.names.llm_component
                        for call in invocations(endpoint_url)[mark:]
                    )
                    runs[name].append(run)
    report(engine, runs)


def report(engine: str, runs: dict[str, list[Run]]) -> None:
    plain = runs["plain"]
    print(
        f"{'variant':<24} {'TTFT ms':>8} {'x plain':>8} {'total ms':>9} {'x plain':>8}"
        f" {'LLM calls':>10} {'helper ms':>10} {'fallbacks':>10}"
    )
    for name, variant in runs.items():
        ttft = statistics.median(r.first_s for r in variant) * 1000
        total = statistics.median(r.total_s for r in variant) * 1000
        ttft_ratio = statistics.median(
            r.first_s / p.first_s for r, p in zip(variant, plain, strict=True)
        )
        total_ratio = statistics.median(
            r.total_s / p.total_s for r, p in zip(variant, plain, strict=True)
        )
        calls = statistics.mean(r.llm_calls for r in variant)
        helper = statistics.median(helper_ms(r) for r in variant)
        fallbacks = sum(bool(r.retrieval["fallbacks"]) for r in variant)
        print(
            f"{name:<24} {ttft:>8.0f} {ttft_ratio:>7.2f}x {total:>9.0f} {total_ratio:>7.2f}x"
            f" {calls:>10.1f} {helper:>10.0f} {fallbacks:>6}/{len(variant)}"
        )
    both = runs["both"]
    # What the retrieval chose for the first question, which names its author.
    print(f"first question with both on: {json.dumps(both[0].retrieval)}")
    budget = [
        (p.first_s * 1000 + helper_ms(b)) * TARGET_MARGIN for b, p in zip(both, plain, strict=True)
    ]
    within = sum(b.first_s * 1000 <= limit for b, limit in zip(both, budget, strict=True))
    print(
        f"TTFT with both <= (TTFT plain + longer helper step) x {TARGET_MARGIN} ({engine}): "
        f"{within}/{len(both)} pairs"
    )


def helper_ms(run: Run) -> float:
    """The longer of the two concurrent helper steps (0 when neither ran)."""
    return max(run.latency_ms.get("expand", 0.0), run.latency_ms.get("self_query", 0.0))


def main() -> None:
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(REPO / "bench"))
    from engines import ENGINE_MODELS, for_each_engine

    if len(sys.argv) > 1:
        measure(sys.argv[1], ENGINE_MODELS[sys.argv[1]])
    else:
        for_each_engine(measure)


if __name__ == "__main__":
    main()
