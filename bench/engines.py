"""The shipped config each serving engine is benchmarked with (same local GGUF behind both)."""

from __future__ import annotations

from collections.abc import Callable

# twin-llama-3.1-8b serves on vLLM with its Alpaca template; smollm2-1.7b on TGI with ChatML.
ENGINE_MODELS = {"vllm": "twin-llama-3.1-8b", "tgi": "smollm2-1.7b"}


def for_each_engine(measure: Callable[[str, str], None]) -> None:
    """Run a benchmark's `measure(engine, model)` for each engine's config."""
    for engine, model in ENGINE_MODELS.items():
        measure(engine, model)
