"""A bad model config fails with the file, the field and the reason."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from model_config import ConfigError, available_models, load_config
from model_config.loader import CONFIG_DIR, DEFAULT_MODEL
from model_config.runtime_env import rag_environment

ROOT = Path(__file__).resolve().parents[3]
BASE: dict[str, Any] = yaml.safe_load((CONFIG_DIR / f"{DEFAULT_MODEL}.yaml").read_text())


def write_config(tmp_path: Path, file_stem: str, **changes: Any) -> Path:
    """The default config with dotted-path changes (value None deletes the key)."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        node = data
        for part in parents:
            node = node.setdefault(part, {})
        if value is None:
            node.pop(leaf, None)
        else:
            node[leaf] = value
    path = tmp_path / f"{file_stem}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def load_error(tmp_path: Path, **changes: Any) -> str:
    write_config(tmp_path, "broken", **changes)
    with pytest.raises(ConfigError) as caught:
        load_config("broken", config_dir=tmp_path)
    return str(caught.value)


def test_all_shipped_configs_load() -> None:
    assert {"twin-llama-3.1-8b", "smollm2-1.7b", "qwen2.5-32b"} <= set(available_models())
    for name in available_models():
        assert load_config(name).name == name


def test_unknown_name_lists_the_available_configs() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("gpt-17")
    message = str(caught.value)
    assert "unknown model config 'gpt-17'" in message
    for name in available_models():
        assert name in message


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"endpoint__instance_type": "ml.g5.huge"}, "endpoint.instance_type", "unknown instance"),
        ({"llm__num_gpus": 4}, "llm.num_gpus", "more than the 1 GPU"),
        ({"llm__max_total_tokens": 2048}, "llm", "max_total_tokens (2048) must be above"),
        (
            {"llm__scaling__min_copies": 5, "llm__scaling__max_copies": 2},
            "llm.scaling",
            "min_copies (5) is above max_copies (2)",
        ),
        ({"llm__model_id": None}, "llm.model_id", "Field required"),
        ({"llm__model_id": "not a hub id"}, "llm.model_id", "should match pattern"),
        ({"llm__quantise": "awq"}, "llm.quantise", "Extra inputs are not permitted"),
        ({"llm__cpu_cores": 30}, "cpu_cores add up to", "usable on ml.g5.2xlarge"),
        ({"llm__memory_mb": 40000}, "memory_mb add up to", "usable on ml.g5.2xlarge"),
        ({"generation__max_new_tokens": 4000}, "generation.max_new_tokens", "exceeds"),
        ({"prompt_template": "no placeholders"}, "prompt_template", "{context} and {query}"),
        ({"llm__scaling__max_copies": 9}, "llm.scaling.max_copies", "needs 9 GPUs"),
        ({"endpoint__min_instances": 0}, "endpoint", "scale_to_zero"),
        ({"llm__scaling__min_copies": 0}, "llm.scaling.min_copies is 0", "scale_to_zero is false"),
        (
            {"llm__startup_health_check_timeout_s": 5000},
            "llm.startup_health_check_timeout_s",
            "3600",
        ),
    ],
)
def test_bad_config_names_file_field_and_reason(
    tmp_path: Path, changes: dict[str, Any], field: str, reason: str
) -> None:
    message = load_error(tmp_path, **changes)
    assert message.startswith("broken.yaml: ")
    assert field in message
    assert reason in message


def test_scale_to_zero_requires_every_component_at_zero(tmp_path: Path) -> None:
    message = load_error(
        tmp_path,
        endpoint__min_instances=0,
        endpoint__scale_to_zero=True,
        llm__scaling__min_copies=0,
    )
    # The embedding copy would keep a GPU instance billing.
    assert "endpoint.scale_to_zero needs embedding.scaling.min_copies = 0" in message


def test_name_inside_the_file_must_match_the_file_name(tmp_path: Path) -> None:
    message = load_error(tmp_path, name="other")
    assert "name: 'other' differs from the file name" in message


def test_invalid_yaml_is_reported_with_the_file(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text("llm: [unclosed")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML"):
        load_config("broken", config_dir=tmp_path)


def test_runtime_environment_carries_names_limits_and_prompt() -> None:
    config = load_config("qwen2.5-32b")
    env = rag_environment(config)
    assert env["RAG_ENDPOINT_NAME"] == "qwen2-5-32b-endpoint"
    assert env["RAG_LLM_COMPONENT"] == "qwen2-5-32b-llm"
    assert env["RAG_RERANKER_COMPONENT"] == "qwen2-5-32b-reranker"
    assert env["RAG_MAX_INPUT_TOKENS"] == "4096"
    assert env["RAG_PROMPT_TEMPLATE"] == config.prompt_template
    assert "RAG_RERANKER_COMPONENT" not in rag_environment(load_config())


def test_synth_fails_on_an_unknown_model_with_the_list() -> None:
    env = {**os.environ, "CDK_CONTEXT_JSON": '{"model": "gpt-17"}', "CDK_OUTDIR": "/tmp/unused"}
    run = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert run.returncode != 0
    assert "model config error: unknown model config 'gpt-17'" in run.stderr
    assert "twin-llama-3.1-8b" in run.stderr
