"""Settings come from RAG_* variables; every problem names its variable."""

from __future__ import annotations

import pytest

from rag_app.main import create_app
from rag_app.settings import Settings, SettingsError, load_settings

REQUIRED = [
    "RAG_ENDPOINT_NAME",
    "RAG_LLM_COMPONENT",
    "RAG_EMBEDDING_COMPONENT",
    "RAG_MODEL_ID",
    "RAG_LLM_ENGINE",
    "RAG_MAX_INPUT_TOKENS",
]


def test_reads_the_runtime_env_contract(rag_env: dict[str, str]) -> None:
    settings = load_settings()

    assert settings.endpoint_name == "twin-endpoint"
    assert settings.stop == ["<|eot_id|>"]
    assert settings.collections == [
        "embedded_articles",
        "embedded_posts",
        "embedded_repositories",
    ]
    assert settings.max_input_tokens == 2048
    assert settings.chars_per_token == 3.0
    assert settings.request_timeout_s == 25.0
    assert settings.reranker_component is None
    assert settings.qdrant_path == rag_env["RAG_QDRANT_PATH"]


def test_optional_values_have_defaults(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("RAG_REQUEST_TIMEOUT_S", "RAG_COLLECTIONS", "RAG_STOP", "RAG_TOP_K"):
        monkeypatch.delenv(name)

    settings = load_settings()

    assert settings.request_timeout_s == 25.0
    assert settings.collections == [
        "embedded_articles",
        "embedded_posts",
        "embedded_repositories",
    ]
    assert settings.stop == []
    assert settings.top_k == 5


@pytest.mark.parametrize("name", REQUIRED)
def test_missing_variable_is_named(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.delenv(name)

    with pytest.raises(SettingsError, match=f"{name}: required but not set"):
        load_settings()


@pytest.mark.parametrize("name", ["RAG_STOP", "RAG_COLLECTIONS"])
@pytest.mark.parametrize("value", ["[oops", '{"a": 1}', "[1, 2]", '"one"', "embedded_posts"])
def test_bad_json_list_is_named(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError, match=f"{name}: not a JSON list of strings"):
        load_settings()


def test_empty_collection_list_is_rejected(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_COLLECTIONS", "[]")

    with pytest.raises(SettingsError, match="RAG_COLLECTIONS: name at least one collection"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("RAG_MAX_INPUT_TOKENS", "many", "RAG_MAX_INPUT_TOKENS: Input should be a valid integer"),
        ("RAG_MAX_INPUT_TOKENS", "0", "RAG_MAX_INPUT_TOKENS: Input should be greater than 0"),
        ("RAG_TEMPERATURE", "0", "RAG_TEMPERATURE: Input should be greater than 0"),
        ("RAG_TOP_P", "1", "RAG_TOP_P: Input should be less than 1"),
        ("RAG_REQUEST_TIMEOUT_S", "30", "RAG_REQUEST_TIMEOUT_S: Input should be less than or"),
        ("RAG_PROMPT_TEMPLATE", "{context} only", "RAG_PROMPT_TEMPLATE: use exactly the"),
        ("RAG_PROMPT_TEMPLATE", "{context} {query} {extra}", "RAG_PROMPT_TEMPLATE: use exactly"),
        ("RAG_PROMPT_TEMPLATE", "{context} {query} {", "RAG_PROMPT_TEMPLATE: not a valid"),
        ("RAG_OPIK_ENABLED", "maybe", "RAG_OPIK_ENABLED: Input should be a valid boolean"),
    ],
)
def test_bad_value_is_named(
    rag_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    value: str,
    problem: str,
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert problem in str(raised.value)


def test_no_qdrant_location_is_a_clear_error(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAG_QDRANT_PATH")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert (
        "set exactly one of RAG_QDRANT_URL, RAG_QDRANT_PATH, RAG_QDRANT_SECRET_ID (found: none)"
        in str(raised.value)
    )


def test_two_qdrant_locations_are_a_clear_error(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_QDRANT_SECRET_ID", "arn:aws:secretsmanager:eu-west-1:1:secret:q")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert "(found: RAG_QDRANT_PATH, RAG_QDRANT_SECRET_ID)" in str(raised.value)


def test_api_key_without_url_is_rejected_without_echoing_it(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_QDRANT_API_KEY", "super-secret-key")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert "RAG_QDRANT_API_KEY only applies with RAG_QDRANT_URL" in str(raised.value)
    assert "super-secret-key" not in str(raised.value)


def test_qdrant_url_must_be_http(rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RAG_QDRANT_PATH")
    monkeypatch.setenv("RAG_QDRANT_URL", "qdrant:6333")

    with pytest.raises(SettingsError, match="RAG_QDRANT_URL: not an http"):
        load_settings()


def test_url_with_api_key_is_accepted(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAG_QDRANT_PATH")
    monkeypatch.setenv("RAG_QDRANT_URL", "https://qdrant.example.com:6333")
    monkeypatch.setenv("RAG_QDRANT_API_KEY", "super-secret-key")

    settings = load_settings()

    assert settings.qdrant_api_key is not None
    assert settings.qdrant_api_key.get_secret_value() == "super-secret-key"
    assert "super-secret-key" not in repr(settings)


def test_blank_optional_values_count_as_unset(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_RERANKER_COMPONENT", "")
    monkeypatch.setenv("RAG_QDRANT_URL", " ")

    settings = load_settings()

    assert settings.reranker_component is None
    assert settings.qdrant_url is None


def test_every_problem_is_reported_at_once(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAG_MODEL_ID")
    monkeypatch.setenv("RAG_STOP", "[")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert "RAG_MODEL_ID" in str(raised.value)
    assert "RAG_STOP" in str(raised.value)


def test_app_start_up_fails_on_bad_settings(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAG_ENDPOINT_NAME")

    with pytest.raises(SettingsError, match="RAG_ENDPOINT_NAME"):
        create_app()


def test_settings_are_frozen(rag_env: dict[str, str]) -> None:
    settings = load_settings()

    with pytest.raises(ValueError, match="frozen"):
        settings.top_k = 5
    assert isinstance(settings, Settings)


def test_opik_secret_without_opik_enabled_is_a_clear_error(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_OPIK_SECRET_ID", "llm-twin/opik")

    with pytest.raises(SettingsError) as raised:
        load_settings()

    assert "RAG_OPIK_SECRET_ID is set but RAG_OPIK_ENABLED is not true" in str(raised.value)


def test_template_format_needs_its_template(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("RAG_PROMPT_TEMPLATE")

    with pytest.raises(
        SettingsError, match="RAG_PROMPT_TEMPLATE is required when RAG_PROMPT_FORMAT is template"
    ):
        load_settings()


def test_chat_format_needs_a_system_prompt_with_only_the_context(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_PROMPT_FORMAT", "chat")
    monkeypatch.delenv("RAG_PROMPT_TEMPLATE")
    with pytest.raises(SettingsError, match="RAG_SYSTEM_PROMPT is required"):
        load_settings()

    monkeypatch.setenv("RAG_SYSTEM_PROMPT", "Context: {context}\nQuestion: {query}")
    with pytest.raises(
        SettingsError, match=r"RAG_SYSTEM_PROMPT: use exactly the placeholders \{context\}"
    ):
        load_settings()

    monkeypatch.setenv("RAG_SYSTEM_PROMPT", "Answer from: {context}")
    assert load_settings().system_prompt == "Answer from: {context}"


def test_a_prompt_the_format_would_ignore_is_refused(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_SYSTEM_PROMPT", "Answer from: {context}")

    with pytest.raises(SettingsError, match="RAG_SYSTEM_PROMPT is set but unused"):
        load_settings()


@pytest.mark.parametrize(
    ("name", "value"), [("RAG_LLM_ENGINE", "sglang"), ("RAG_PROMPT_FORMAT", "raw")]
)
def test_unknown_engine_or_format_is_named(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)

    with pytest.raises(SettingsError, match=name):
        load_settings()


HELPER = (
    '{"component": "twin-helper", "engine": "vllm", "max_input_tokens": 1024, "max_new_tokens": 64}'
)


def test_a_helper_component_is_read_from_one_json_variable(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_HELPER", HELPER)

    helper = load_settings().helper

    assert helper is not None
    assert (helper.component, helper.engine, helper.prompt_format) == (
        "twin-helper",
        "vllm",
        "chat",
    )
    assert (helper.max_input_tokens, helper.max_new_tokens, helper.stop) == (1024, 64, [])


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{oops", "RAG_HELPER: not a JSON object"),
        (
            '{"component": "h", "engine": "tgx", "max_input_tokens": 1, "max_new_tokens": 1}',
            "RAG_HELPER engine: Input should be 'vllm' or 'tgi'",
        ),
        (
            '{"component": "h", "engine": "tgi", "max_input_tokens": 1}',
            "RAG_HELPER max_new_tokens: required but not set",
        ),
        (
            '{"component": "h", "engine": "tgi", "max_input_tokens": 1, "max_new_tokens": 1, '
            '"temperature": 1}',
            "RAG_HELPER temperature: Extra inputs are not permitted",
        ),
    ],
)
def test_a_bad_helper_names_the_variable_and_its_field(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("RAG_HELPER", value)

    with pytest.raises(SettingsError, match=message):
        load_settings()


def test_a_blank_helper_means_the_llm_answers_helper_calls(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RAG_HELPER", " ")

    assert load_settings().helper is None
