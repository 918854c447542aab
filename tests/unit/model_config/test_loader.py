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
from model_config.instances import INSTANCES
from model_config.loader import CONFIG_DIR, DEFAULT_MODEL
from model_config.runtime_env import rag_environment
from model_config.schema import (
    BUFFERED_INTEGRATION_TIMEOUT_S,
    DEADLINE_MARGIN_S,
    ROLLING_TIMEOUT_MAX_S,
    STREAM_INTEGRATION_TIMEOUT_MAX_S,
    Compute,
    Scaling,
    startup_timeout_for,
)

ROOT = Path(__file__).resolve().parents[3]
BASE: dict[str, Any] = yaml.safe_load((CONFIG_DIR / f"{DEFAULT_MODEL}.yaml").read_text())
SCALES_TO_ZERO: dict[str, Any] = yaml.safe_load((CONFIG_DIR / "smollm2-1.7b.yaml").read_text())


def write_config(
    tmp_path: Path, file_stem: str, base: dict[str, Any] | None = None, **changes: Any
) -> Path:
    """A shipped config (the default unless `base`) with dotted-path changes (None deletes)."""
    data = copy.deepcopy(BASE if base is None else base)
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


def load_error(tmp_path: Path, base: dict[str, Any] | None = None, **changes: Any) -> str:
    write_config(tmp_path, "broken", base, **changes)
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
        ({"llm__engine": "trt-llm"}, "llm.engine", "Input should be 'vllm' or 'tgi'"),
        ({"llm__engine": None}, "(no error)", ""),
        (
            {"api__request_timeout_s": 26},
            "api: request_timeout_s (26.0) gives the Lambda a 29 s timeout",
            "use at most 25",
        ),
        (
            {"api__stream_timeout_s": 897},
            "api: stream_timeout_s (897)",
            "use at most 896",
        ),
        ({"endpoint__log_retention_days": 10}, "endpoint.log_retention_days", "Input should be"),
        (
            {"api__provisioned_concurrency": 2},
            "api.snapstart and api.provisioned_concurrency (2)",
            "Lambda refuses SnapStart with provisioned concurrency",
        ),
        (
            {"api__stage_rate_limit_rps": 5},
            "api.stage_rate_limit_rps (5.0)",
            "below the per-key api.rate_limit_rps (10)",
        ),
        (
            {"api__stage_burst_limit": 19},
            "api.stage_burst_limit (19)",
            "below the per-key api.burst_limit (20)",
        ),
        ({"api__authorizer_cache_ttl_s": 3601}, "api.authorizer_cache_ttl_s", "3600"),
        # A browser origin is scheme://host[:port]: no wildcard, no path.
        ({"api__cors_origins": ["*"]}, "api.cors_origins.0", "should match pattern"),
        (
            {"api__cors_origins": ["https://chat.example.com/app"]},
            "api.cors_origins.0",
            "should match pattern",
        ),
        (
            {"llm__startup_health_check_timeout_s": 900},
            "llm.startup_health_check_timeout_s (900) is too short for llm.weights_gb (16.1)",
            "allow at least 968",
        ),
        ({"llm__weights_gb": 150}, "llm.weights_gb (150.0)", "set llm.weights_s3_uri"),
        ({"llm__weights_s3_uri": "s3://models/twin"}, "llm.weights_s3_uri", "should match"),
        (
            {"llm__weights_s3_uri": "s3://models/twin/", "llm__model_download_timeout_s": 60},
            "llm.model_download_timeout_s (60) is too short to copy llm.weights_gb (16.1)",
            "allow at least 202",
        ),
        (
            {"endpoint__instance_release_cooldown_min": 4},
            "endpoint.instance_release_cooldown_min",
            "5",
        ),
    ],
)
def test_bad_config_names_file_field_and_reason(
    tmp_path: Path, changes: dict[str, Any], field: str, reason: str
) -> None:
    if field == "(no error)":
        # Leaving the engine out is not an error: vLLM is the default.
        write_config(tmp_path, "fine", **changes)
        assert load_config("fine", config_dir=tmp_path).llm.engine == "vllm"
        return
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
    assert env["RAG_LLM_ENGINE"] == "vllm"
    assert env["RAG_SYSTEM_PROMPT"] == config.system_prompt
    assert "RAG_PROMPT_TEMPLATE" not in env
    default = rag_environment(load_config())
    assert default["RAG_PROMPT_TEMPLATE"] == load_config().prompt_template
    assert "RAG_RERANKER_COMPONENT" not in default


def test_synth_fails_on_an_unknown_model_with_the_list() -> None:
    env = {**os.environ, "CDK_CONTEXT_JSON": '{"model": "gpt-17"}', "CDK_OUTDIR": "/tmp/unused"}
    run = subprocess.run(
        [sys.executable, str(ROOT / "app.py")], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert run.returncode != 0
    assert "model config error: unknown model config 'gpt-17'" in run.stderr
    assert "twin-llama-3.1-8b" in run.stderr


@pytest.mark.parametrize("request_timeout_s", [5, 12.5, 24.2, 25])
def test_deadlines_nest_below_api_gateways_29_s(request_timeout_s: float) -> None:
    api = load_config().api.model_copy(update={"request_timeout_s": request_timeout_s})
    api = type(api).model_validate(api.model_dump())
    assert request_timeout_s < api.lambda_timeout_s < BUFFERED_INTEGRATION_TIMEOUT_S
    assert api.lambda_timeout_s - request_timeout_s >= DEADLINE_MARGIN_S
    assert api.stream_timeout_s < api.stream_lambda_timeout_s < api.stream_integration_timeout_s
    assert api.stream_integration_timeout_s <= STREAM_INTEGRATION_TIMEOUT_MAX_S


def test_stream_timeout_may_use_api_gateways_15_minutes(tmp_path: Path) -> None:
    write_config(tmp_path, "longest", api__stream_timeout_s=896)
    api = load_config("longest", config_dir=tmp_path).api
    assert api.stream_integration_timeout_s == STREAM_INTEGRATION_TIMEOUT_MAX_S == 900


def test_rolling_update_limit_fits_sagemakers_for_every_allowed_config() -> None:
    """Batches of half the copies: the worst timeouts and any copy count stay below 8 hours."""
    for max_copies in range(1, 65):
        worst = Compute(
            cpu_cores=1,
            memory_mb=1024,
            startup_health_check_timeout_s=3600,
            model_download_timeout_s=3600,
            scaling=Scaling(min_copies=1, max_copies=max_copies),
        )
        assert worst.rolling_update_timeout_s <= ROLLING_TIMEOUT_MAX_S
    one_copy = Compute(
        cpu_cores=1,
        memory_mb=1024,
        model_download_timeout_s=60,
        startup_health_check_timeout_s=60,
        scaling=Scaling(max_copies=1),
    )
    # SageMaker's floor is 600 s even when one short batch needs less.
    assert one_copy.rolling_update_s == 180
    assert one_copy.rolling_update_timeout_s == 600


def test_scale_to_zero_keeps_other_components_from_outlasting_the_embedder(
    tmp_path: Path,
) -> None:
    message = load_error(tmp_path, SCALES_TO_ZERO, llm__scaling__scale_in_cooldown_s=1200)
    assert "llm.scaling.scale_in_cooldown_s must not exceed" in message
    assert "embedding.scaling.scale_in_cooldown_s (900)" in message


def test_component_reservations_fit_a_fifth_of_the_instance(tmp_path: Path) -> None:
    # The sizes smollm2-1.7b used to reserve no longer pass on ml.g5.xlarge.
    message = load_error(tmp_path, SCALES_TO_ZERO, llm__memory_mb=8192, embedding__memory_mb=2048)
    assert "components' memory_mb add up to 10240, more than the 3276 usable on ml.g5.xlarge" in (
        message
    )
    assert INSTANCES["ml.g5.xlarge"].usable_memory_mb == 3276
    # One measured refusal: a 4096 MB component did not fit an ml.g5.xlarge.
    assert INSTANCES["ml.g5.xlarge"].usable_memory_mb < 4096
    for name in available_models():
        config = load_config(name)
        spec = INSTANCES[config.endpoint.instance_type]
        assert sum(c.memory_mb for c in config.components.values()) <= spec.usable_memory_mb


def test_snapstart_is_on_by_default_and_may_be_traded_for_provisioned_concurrency(
    tmp_path: Path,
) -> None:
    assert load_config().api.snapstart is True
    write_config(tmp_path, "warm", api__snapstart=False, api__provisioned_concurrency=2)
    api = load_config("warm", config_dir=tmp_path).api
    assert (api.snapstart, api.provisioned_concurrency) == (False, 2)


def test_authorizer_cache_may_be_off(tmp_path: Path) -> None:
    assert load_config().api.authorizer_cache_ttl_s == 300
    write_config(tmp_path, "uncached", api__authorizer_cache_ttl_s=0)
    assert load_config("uncached", config_dir=tmp_path).api.authorizer_cache_ttl_s == 0


def test_unset_startup_timeout_follows_the_weights_and_a_longer_one_stays(tmp_path: Path) -> None:
    write_config(tmp_path, "derived", llm__weights_gb=40)
    assert load_config("derived", config_dir=tmp_path).llm.startup_health_check_timeout_s == (
        startup_timeout_for(40)
    )
    write_config(tmp_path, "longer", llm__startup_health_check_timeout_s=3000)
    assert load_config("longer", config_dir=tmp_path).llm.startup_health_check_timeout_s == 3000


def test_weights_from_s3_leave_only_loading_to_the_health_check(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        "hub",
        llm__weights_gb=150,
        llm__weights_s3_uri="s3://models/big/",
        llm__model_download_timeout_s=1875,
    )
    llm = load_config("hub", config_dir=tmp_path).llm
    assert llm.startup_health_check_timeout_s == startup_timeout_for(150, from_hub=False) < 3600
