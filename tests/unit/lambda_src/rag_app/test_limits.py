"""The model config and the app share their bounds: what synth accepts, the app accepts."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from model_config import DeploymentConfig, load_config
from model_config.runtime_env import rag_environment
from rag_app.limits import MAX_K, MAX_REQUEST_TIMEOUT_S, MAX_STREAM_TIMEOUT_S
from rag_app.settings import SettingsError, load_settings


def _config(section: str, field: str, value: Any) -> DeploymentConfig:
    data = load_config().model_dump()
    data[section][field] = value
    return DeploymentConfig.model_validate(data)


@pytest.mark.parametrize(
    ("section", "field", "largest", "too_large"),
    [
        ("retrieval", "top_k", MAX_K, MAX_K + 1),
        ("api", "request_timeout_s", MAX_REQUEST_TIMEOUT_S, MAX_REQUEST_TIMEOUT_S + 0.5),
        ("api", "stream_timeout_s", MAX_STREAM_TIMEOUT_S, MAX_STREAM_TIMEOUT_S + 1),
    ],
)
def test_the_largest_value_synth_accepts_is_the_largest_the_app_accepts(
    rag_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    section: str,
    field: str,
    largest: float,
    too_large: float,
) -> None:
    for name, value in rag_environment(_config(section, field, largest)).items():
        monkeypatch.setenv(name, value)
    assert getattr(load_settings(), field) == largest

    with pytest.raises(ValidationError, match=field):
        _config(section, field, too_large)
    monkeypatch.setenv(f"RAG_{field.upper()}", str(too_large))
    with pytest.raises(SettingsError, match=f"RAG_{field.upper()}"):
        load_settings()
