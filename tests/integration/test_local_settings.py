"""What local mode hands the API, and what it says about a reranker it cannot run."""

from __future__ import annotations

from pathlib import Path

from local.endpoint import reranker_notice
from local.processes import api_environment
from local.settings import Ports
from model_config import load_config
from model_config.runtime_env import rag_environment


def test_the_api_gets_the_configs_settings_plus_local_locations(tmp_path: Path) -> None:
    config = load_config("twin-llama-3.1-8b")
    ports = Ports(endpoint=18080, api=18000)
    env = api_environment(config, tmp_path / "q", ports, {"RAG_TOP_K": "1"})
    expected = {**rag_environment(config), "RAG_TOP_K": "1"}
    assert {k: env[k] for k in expected} == expected
    assert env["RAG_QDRANT_PATH"] == str(tmp_path / "q")
    assert env["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == "http://127.0.0.1:18080"
    assert env["AWS_ACCESS_KEY_ID"]
    assert env["AWS_DEFAULT_REGION"]


def test_a_configured_reranker_is_dropped_and_announced(tmp_path: Path) -> None:
    config = load_config("qwen2.5-32b")
    assert config.reranker is not None
    env = api_environment(config, tmp_path, Ports(), None)
    assert "RAG_RERANKER_COMPONENT" not in env
    notice = reranker_notice(config)
    assert notice is not None
    assert config.reranker.model_id in notice
    assert "without a reranker" in notice
    assert reranker_notice(load_config("twin-llama-3.1-8b")) is None
