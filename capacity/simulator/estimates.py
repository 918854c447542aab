"""Service curves estimated from hardware figures, for configs nobody has load-tested yet.

Estimates, not measurements: replace them with `make loadtest` against a deployed endpoint
(`--service-csv`). How each figure is derived:

- Decoding one sequence reads every weight once per token, so it is memory-bandwidth bound:
  tokens/s ~ bandwidth x efficiency / weight bytes. An A10G has 600 GB/s (NVIDIA's data sheet);
  bf16 weights take 2 bytes per parameter; efficiency 0.75 on one GPU, 0.6 with tensor parallel
  over 4 GPUs (all-reduce between layers).
- Prefill is compute bound: 2 x parameters x prompt tokens / (125 TFLOPS bf16 x 0.5).
- Batch: the KV cache left after the weights, divided by one request's worst-case tokens
  (max_input_tokens + max_new_tokens), rounded down to a power of two.
- Each extra sequence in the batch slows every decode step by 2 % (KV reads grow).
- 0.3 s for the rest of the request: Lambda, embedding, Qdrant search.
"""

from __future__ import annotations

from dataclasses import dataclass

from capacity.simulator.service import ServiceCurve, ServiceCurveError
from model_config import DeploymentConfig


@dataclass(frozen=True)
class EngineEstimate:
    """Per-model figures behind an estimated service curve."""

    decode_tokens_per_s: float
    prefill_s: float
    max_batch: int
    why: str


BATCH_SLOWDOWN = 0.02
OVERHEAD_S = 0.3

ESTIMATES: dict[str, EngineEstimate] = {
    # 8.0e9 params = 16 GB: 600 / 16 x 0.75 = 28 tok/s. Prefill of ~1.5k tokens: 0.38 s.
    # KV: (24 GB x 0.9 - 16 GB) / 128 KiB per token = 43k tokens / 2.2k per request = 19 -> 16.
    "twin-llama-3.1-8b": EngineEstimate(28.0, 0.4, 16, "Llama 3.1 8B bf16 on one A10G"),
    # 1.7e9 params = 3.4 GB: 600 / 3.4 x 0.75 = 132 tok/s. Prefill of ~1.5k tokens: 0.08 s.
    # KV: ~18 GB / 192 KiB per token = 98k tokens / 3.3k per request = 29 -> 16.
    "smollm2-1.7b": EngineEstimate(132.0, 0.1, 16, "SmolLM2 1.7B bf16 on one A10G"),
    # 32.8e9 params = 66 GB over 4 x 600 GB/s: 2400 / 66 x 0.6 = 22 tok/s. Prefill of ~2.5k
    # tokens over 4 GPUs: 0.65 s. KV: (96 GB x 0.92 - 66 GB) / 256 KiB = 74k / 4.6k = 16.
    "qwen2.5-32b": EngineEstimate(22.0, 0.65, 16, "Qwen2.5 32B bf16 over four A10Gs"),
}


def estimated_curve(config: DeploymentConfig) -> ServiceCurve:
    """The estimated curve for a shipped config, generating `generation.max_new_tokens`."""
    estimate = ESTIMATES.get(config.name)
    if estimate is None:
        raise ServiceCurveError(
            f"no estimated service curve for {config.name!r}: measure one with `make loadtest` "
            "and pass SERVICE=<its CSV>, or give points with --service 1:2.0,4:2.6"
        )
    return ServiceCurve.estimate(
        decode_tokens_per_s=estimate.decode_tokens_per_s,
        new_tokens=config.generation.max_new_tokens,
        prefill_s=estimate.prefill_s,
        overhead_s=OVERHEAD_S,
        batch_slowdown=BATCH_SLOWDOWN,
        max_batch=estimate.max_batch,
        source=f"estimate: {estimate.why}, {config.generation.max_new_tokens} new tokens",
    )
