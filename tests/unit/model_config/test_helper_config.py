"""The optional helper component in a model config: GPUs, placement, wake-up, messages."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from model_config import ConfigError, load_config
from model_config.runtime_env import rag_environment

from .test_loader import SCALES_TO_ZERO, load_error, write_config

HELPER_FIELDS: dict[str, Any] = {
    "model_id": "Qwen/Qwen2.5-0.5B-Instruct",
    "engine": "vllm",
    "cpu_cores": 2,
    "memory_mb": 2048,
    "max_input_tokens": 1024,
    "max_total_tokens": 1152,
    "scaling": {"min_copies": 1, "max_copies": 1},
}


def helper(**changes: Any) -> dict[str, Any]:
    """A fresh helper section (write_config edits what it is given in place)."""
    return copy.deepcopy({**HELPER_FIELDS, **changes})


# The default config runs up to 4 LLM copies on 4 one-GPU instances: one less leaves the helper
# a GPU.
ROOM = {"llm__scaling__max_copies": 3}


def test_a_helper_gets_its_own_component_name_and_app_setting(tmp_path: Path) -> None:
    write_config(tmp_path, "helped", helper=helper(), **ROOM)

    config = load_config("helped", config_dir=tmp_path)

    assert config.names.helper_component == "helped-helper"
    assert config.names.component_names[-1] == "helped-helper"
    assert set(config.gpu_components) == {"llm", "helper"}
    assert '"component": "helped-helper"' in rag_environment(config)["RAG_HELPER"]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        # Every GPU copy at its most must fit the instances at their most.
        (
            {},
            "llm.scaling.max_copies (4) x llm.num_gpus (1) + helper.scaling.max_copies (1) x "
            "helper.num_gpus (1) needs 5 GPUs but endpoint.max_instances (4) x ml.g5.2xlarge "
            "offers 4",
        ),
        ({**ROOM, "helper__num_gpus": 2}, "helper.num_gpus (2) is more than the 1 GPU(s)"),
        # One GPU per instance: the helper sits with the embedder, not with the LLM.
        (
            {**ROOM, "helper__memory_mb": 5000},
            "components' memory_mb (helper, embedding) add up to 7048",
        ),
        ({**ROOM, "helper__prompt_format": "raw"}, "helper.prompt_format"),
        ({**ROOM, "helper__stop": ["a", "b", "c", "d", "e"]}, "helper.stop"),
        # Messages name the helper's own fields.
        (
            {**ROOM, "helper__weights_gb": 1.0, "helper__startup_health_check_timeout_s": 60},
            "helper.startup_health_check_timeout_s (60) is too short for helper.weights_gb",
        ),
        ({**ROOM, "helper__engine": "tgi", "helper__quantize": "eetq"}, "(no error)"),
        ({**ROOM, "helper__quantize": "eetq"}, "quantize 'eetq' is not supported by vllm"),
    ],
)
def test_a_bad_helper_fails_naming_its_field(
    tmp_path: Path, changes: dict[str, Any], expected: str
) -> None:
    raw = {"helper": helper(), **changes}
    if expected == "(no error)":
        write_config(tmp_path, "fine", **raw)
        assert load_config("fine", config_dir=tmp_path).helper is not None
        return
    assert expected in load_error(tmp_path, **raw)


def test_a_helper_on_a_scale_to_zero_endpoint_must_sleep_too(tmp_path: Path) -> None:
    sleepy = {"engine": "tgi", "cpu_cores": 1, "memory_mb": 1024}
    awake = load_error(tmp_path, SCALES_TO_ZERO, helper=helper(**sleepy), endpoint__max_instances=3)
    assert "endpoint.scale_to_zero needs helper.scaling.min_copies = 0" in awake

    late = load_error(
        tmp_path,
        SCALES_TO_ZERO,
        helper=helper(**sleepy, scaling={"min_copies": 0, "scale_in_cooldown_s": 1800}),
        endpoint__max_instances=3,
    )
    assert "helper.scaling.scale_in_cooldown_s must not exceed" in late


def test_a_config_file_of_ones_own_loads_by_path(tmp_path: Path) -> None:
    path = write_config(tmp_path, "mine", helper=helper(), **ROOM)

    config = load_config(str(path))

    assert config.name == "mine"
    assert config.helper is not None


def test_a_missing_config_file_is_named() -> None:
    with pytest.raises(ConfigError, match=r"model config file /nowhere/mine\.yaml not found"):
        load_config("/nowhere/mine.yaml")
