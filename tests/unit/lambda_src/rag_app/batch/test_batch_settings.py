"""The Batch API's settings: a folder, or all three AWS names, never a mix."""

from __future__ import annotations

import pytest

from rag_app.settings import SettingsError, load_settings

AWS = {
    "RAG_BATCH_BUCKET": "bucket",
    "RAG_BATCH_TABLE": "table",
    "RAG_BATCH_STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:123456789012:stateMachine:b",
}


@pytest.mark.usefixtures("rag_env")
def test_off_by_default() -> None:
    assert load_settings().batch_enabled is False


@pytest.mark.parametrize("env", [{"RAG_BATCH_PATH": "/tmp/b"}, AWS])
def test_a_folder_or_all_aws_names_enable_it(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert load_settings().batch_enabled is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RAG_BATCH_BUCKET": "bucket"}, "needs all of RAG_BATCH_BUCKET"),
        ({**AWS, "RAG_BATCH_PATH": "/tmp/b"}, "not both"),
    ],
)
def test_half_configured_fails_naming_the_variables(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError, match=message):
        load_settings()
