"""What reading the prompt in small batches costs, and how soon a cancellation is seen.

The local engine evaluates a prompt PREFILL_BATCH tokens at a time and looks for a caller's
cancellation between batches (llama.cpp's own call would read the whole prompt at once). Here
one long prompt is prefilled with several batch sizes in turn, interleaved over rounds, and a
cancellation sent mid-prompt is timed to when the engine saw it. Prints numbers only:
compare the ratios, which come from one run on one machine.
"""

from __future__ import annotations

import statistics
import threading
import time

from local import llm
from local.llm import Cancel, LlamaEngine, Sampling
from local.settings import resolve_gguf

BATCHES = (32, 128, 512)
ROUNDS = 3
PROMPT = " ".join(f"moth{index} counted" for index in range(150))


def prefill_s(engine: LlamaEngine, ids: list[int], batch: int) -> float:
    """Seconds to the first token with `batch`-token prompt batches, nothing cached."""
    llm.PREFILL_BATCH = batch
    engine.llama.n_tokens = 0
    started = time.perf_counter()
    for _ in engine.generate(ids, Sampling()):
        break  # the first token: the prompt has been read
    return time.perf_counter() - started


def cancel_seen_after_s(engine: LlamaEngine, ids: list[int], batch: int, after_s: float) -> float:
    """Seconds from a cancellation sent `after_s` into the prefill to the engine seeing it."""
    llm.PREFILL_BATCH = batch
    engine.llama.n_tokens = 0
    cancel = Cancel()
    timer = threading.Timer(after_s, cancel.set)
    timer.start()
    list(engine.generate(ids, Sampling(), cancel))
    timer.cancel()
    seen = cancel.seen or {}
    return float(seen.get("seconds_after_request", float("nan")))


def main() -> None:
    engine = LlamaEngine(resolve_gguf(), n_ctx=2048)
    ids = engine.tokenize(PROMPT)
    print(f"prompt: {len(ids)} tokens, {ROUNDS} rounds, batches {BATCHES}")
    prefill: dict[int, list[float]] = {batch: [] for batch in BATCHES}
    for _ in range(ROUNDS):
        for batch in BATCHES:
            prefill[batch].append(prefill_s(engine, ids, batch))
    base = statistics.median(prefill[max(BATCHES)])
    for batch in BATCHES:
        median = statistics.median(prefill[batch])
        seen = cancel_seen_after_s(engine, ids, batch, after_s=median / 3)
        print(
            f"batch {batch:>4}: prefill {median:6.2f} s (x{median / base:.2f} of {max(BATCHES)}),"
            f" cancellation seen {seen:.2f} s after it was sent"
        )


if __name__ == "__main__":
    main()
