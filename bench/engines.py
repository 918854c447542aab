"""The shipped config each serving engine is benchmarked with (same local GGUF behind both)."""

from __future__ import annotations

# twin-llama-3.1-8b serves on vLLM with its Alpaca template; smollm2-1.7b on TGI with ChatML.
ENGINE_MODELS = {"vllm": "twin-llama-3.1-8b", "tgi": "smollm2-1.7b"}
