"""Shipped configs with a helper component added, validated like a user's file would be."""

from __future__ import annotations

from typing import Any

from model_config import DeploymentConfig, load_config

HELPER_MODEL = "Qwen/Qwen2.5-0.5B-Instruct"


def with_helper(name: str, helper: dict[str, Any], **sections: dict[str, Any]) -> DeploymentConfig:
    """Config `name` plus `helper`, with sections merged over its own (one level deep)."""
    raw = load_config(name).model_dump(exclude_none=True)
    for section, changes in sections.items():
        raw[section] = {**raw[section], **changes}
    return DeploymentConfig.model_validate({**raw, "helper": helper})


def vllm_helper() -> DeploymentConfig:
    """The default config (vLLM, ml.g5.2xlarge) with a small vLLM helper on a GPU of its own."""
    base = load_config()
    return with_helper(
        base.name,
        {
            "model_id": HELPER_MODEL,
            "engine": "vllm",
            "max_input_tokens": 1024,
            "max_total_tokens": 1152,
            "gpu_memory_utilization": 0.5,
            "cpu_cores": 2,
            "memory_mb": 2048,
            "weights_gb": 1.0,
            "stop": ["<|im_end|>"],
            "scaling": {"min_copies": 1, "max_copies": 1},
        },
        # Four instances of one GPU: three LLM copies and the helper at most.
        llm={"scaling": {**base.llm.scaling.model_dump(), "max_copies": 3}},
    )


def tgi_helper_scaling_to_zero() -> DeploymentConfig:
    """The small scale-to-zero config (TGI, ml.g5.xlarge) with a TGI helper that sleeps too."""
    return with_helper(
        "smollm2-1.7b",
        {
            "model_id": HELPER_MODEL,
            "engine": "tgi",
            "prompt_format": "chat",
            "max_input_tokens": 1024,
            "max_total_tokens": 1152,
            "cpu_cores": 1,
            "memory_mb": 1024,
            "scaling": {"min_copies": 0, "max_copies": 1, "scale_in_cooldown_s": 900},
        },
        endpoint={"max_instances": 3},
    )
