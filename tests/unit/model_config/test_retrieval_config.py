"""The advanced-RAG switches of a model config: validated at synth, passed to the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from model_config import load_config
from model_config.runtime_env import rag_environment
from rag_app.settings import Settings

from .test_loader import load_error, write_config


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        ({"retrieval__query_expansion": 0}, "retrieval.query_expansion", "greater than or equal"),
        ({"retrieval__query_expansion": 6}, "retrieval.query_expansion", "less than or equal"),
        ({"retrieval__self_query": "maybe"}, "retrieval.self_query", "valid boolean"),
        ({"retrieval__fusion": "sum"}, "retrieval.fusion", "'rrf' or 'max'"),
        (
            {"retrieval__query_expansion_prompt": "Rewrite {query}"},
            "retrieval.query_expansion_prompt",
            "placeholders {n} and {query}, found ['query']",
        ),
        (
            {"retrieval__self_query_prompt": "Who wrote {question}?"},
            "retrieval.self_query_prompt",
            "placeholders {query}",
        ),
        (
            {"retrieval__self_query_prompt": "Who wrote {query"},
            "retrieval.self_query_prompt",
            "not a valid str.format template",
        ),
        (
            {"retrieval__helper_timeout_s": 25},
            "retrieval.helper_timeout_s (25.0)",
            "below api.request_timeout_s",
        ),
    ],
)
def test_bad_switch_fails_naming_the_field(
    tmp_path: Path, changes: dict[str, Any], field: str, reason: str
) -> None:
    message = load_error(tmp_path, **changes)

    assert field in message
    assert reason in message


def test_switches_and_prompts_reach_the_app_settings(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        "advanced",
        name="advanced",
        retrieval__query_expansion=3,
        retrieval__self_query=True,
        retrieval__fusion="max",
        retrieval__helper_timeout_s=2.5,
        retrieval__query_expansion_prompt="Write {n} rewrites of: {query}",
        retrieval__self_query_prompt="Who wrote what {query} asks about?",
    )
    env = rag_environment(load_config("advanced", config_dir=tmp_path))

    assert {key: env[key] for key in env if "QUERY" in key or key in EXTRA} == {
        "RAG_QUERY_EXPANSION": "3",
        "RAG_SELF_QUERY": "true",
        "RAG_FUSION": "max",
        "RAG_HELPER_TIMEOUT_S": "2.5",
        "RAG_QUERY_EXPANSION_PROMPT": "Write {n} rewrites of: {query}",
        "RAG_SELF_QUERY_PROMPT": "Who wrote what {query} asks about?",
    }
    fields = {name.removeprefix("RAG_").lower(): value for name, value in env.items()}
    settings = Settings(**fields, qdrant_path=str(tmp_path))  # type: ignore[arg-type]
    assert settings.query_expansion == 3
    assert settings.self_query is True
    assert settings.fusion == "max"
    assert settings.helper_timeout_s == 2.5


EXTRA = {"RAG_FUSION", "RAG_HELPER_TIMEOUT_S"}


def test_default_config_leaves_the_prompts_to_the_app() -> None:
    env = rag_environment(load_config())

    assert "RAG_QUERY_EXPANSION_PROMPT" not in env
    assert "RAG_SELF_QUERY_PROMPT" not in env
