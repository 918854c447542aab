"""Missing pieces stop local mode early with a message, not a traceback."""

from __future__ import annotations

from pathlib import Path

from tests.integration.conftest import run_module


def _assert_clean_failure(result: object, *fragments: str) -> None:
    returncode, stderr = result.returncode, result.stderr  # type: ignore[attr-defined]
    assert returncode == 2, stderr
    assert "Traceback" not in stderr
    for fragment in fragments:
        assert fragment in stderr


def test_run_without_the_model_file(tmp_path: Path) -> None:
    result = run_module("local.run", "--gguf", str(tmp_path / "missing.gguf"), timeout=60)
    _assert_clean_failure(result, "LLM model file not found", "missing.gguf", "LOCAL_LLM_GGUF")


def test_endpoint_without_the_model_file(tmp_path: Path) -> None:
    result = run_module("local.endpoint", "--gguf", str(tmp_path / "gone.gguf"), timeout=60)
    _assert_clean_failure(result, "LLM model file not found", "gone.gguf")


def test_run_with_a_store_path_that_is_a_file(tmp_path: Path) -> None:
    store = tmp_path / "not-a-folder"
    store.write_text("")
    result = run_module("local.run", "--qdrant-path", str(store), timeout=60)
    _assert_clean_failure(result, "is a file, not a folder", str(store))


def test_run_with_an_unknown_config() -> None:
    result = run_module("local.run", "--model", "no-such-model", timeout=60)
    _assert_clean_failure(result, "unknown model config 'no-such-model'")


def test_ingest_from_a_missing_folder(tmp_path: Path) -> None:
    result = run_module(
        "local.ingest", "--source", str(tmp_path / "nowhere"), "--qdrant-path", str(tmp_path)
    )
    _assert_clean_failure(result, "source folder not found")
