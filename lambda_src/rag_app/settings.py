"""The RAG app's settings: environment variables with prefix RAG_, validated once at start-up."""

from __future__ import annotations

import json
import string
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag_app.limits import MAX_K, MAX_PHRASINGS, MAX_REQUEST_TIMEOUT_S, MAX_STREAM_TIMEOUT_S

ENV_PREFIX = "RAG_"
# The placeholders each prompt format fills in.
PROMPT_PLACEHOLDERS = {
    "prompt_template": {"context", "query"},
    "system_prompt": {"context"},
    "query_expansion_prompt": {"query", "n"},
    "self_query_prompt": {"query"},
}
QDRANT_LOCATIONS = ("qdrant_url", "qdrant_path", "qdrant_secret_id")
BATCH_AWS_FIELDS = ("batch_bucket", "batch_table", "batch_state_machine_arn")

NonEmptyStr = Annotated[str, Field(min_length=1)]
# NoDecode: the JSON lists are parsed by our own validator so a bad value gets a clear message.
JsonStrList = Annotated[list[str], NoDecode]


class HelperModel(BaseModel):
    """A separate inference component that answers the helper calls (RAG_HELPER, as JSON)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    component: NonEmptyStr
    engine: Literal["vllm", "tgi"]
    prompt_format: Literal["template", "chat"] = "chat"
    max_input_tokens: Annotated[int, Field(gt=0)]
    # Room for new tokens after the longest input (max_total_tokens - max_input_tokens).
    max_new_tokens: Annotated[int, Field(gt=0)]
    stop: list[str] = []


class SettingsError(ValueError):
    """Settings that cannot run the app; the message names every offending variable."""


def env_name(field: str) -> str:
    """The environment variable behind a settings field."""
    return f"{ENV_PREFIX}{field.upper()}"


class Settings(BaseSettings):
    """Everything the RAG app reads from its environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    endpoint_name: NonEmptyStr
    llm_component: NonEmptyStr
    embedding_component: NonEmptyStr
    reranker_component: NonEmptyStr | None = None
    model_id: NonEmptyStr
    # Which request contract the LLM component speaks (see services/generator.py).
    llm_engine: Literal["vllm", "tgi"]

    # template: prompt_template filled and sent as one text; chat: system_prompt plus the
    # conversation as messages, and the engine applies the model's chat template.
    prompt_format: Literal["template", "chat"] = "template"
    prompt_template: NonEmptyStr | None = None
    system_prompt: NonEmptyStr | None = None
    max_input_tokens: Annotated[int, Field(gt=0)]
    chars_per_token: Annotated[float, Field(gt=0, le=100)] = 3.0

    max_new_tokens: Annotated[int, Field(gt=0)] = 256
    temperature: Annotated[float, Field(gt=0, le=2)] = 0.01
    top_p: Annotated[float, Field(gt=0, lt=1)] = 0.9
    repetition_penalty: Annotated[float, Field(gt=0)] = 1.1
    stop: JsonStrList = []
    # Browser origins allowed to call the API (CORS); none: no CORS headers at all.
    cors_origins: JsonStrList = []

    collections: JsonStrList = ["embedded_articles", "embedded_posts", "embedded_repositories"]
    # The model config's default too (model_config/schema.py), for an app run without RAG_TOP_K.
    top_k: Annotated[int, Field(ge=1, le=MAX_K)] = 5
    # Phrasings searched per question, the question included: 1 is no query expansion.
    query_expansion: Annotated[int, Field(ge=1, le=MAX_PHRASINGS)] = 1
    # Whether an LLM reads the author a question names, to filter the search on them.
    self_query: bool = False
    # How the phrasings' rankings merge without a reranker (see retrieval/fusion.py).
    fusion: Literal["rrf", "max"] = "rrf"
    # The helper prompts (None: the app's own, see retrieval/expansion.py and self_query.py).
    query_expansion_prompt: NonEmptyStr | None = None
    self_query_prompt: NonEmptyStr | None = None
    # A separate small model for the helper calls; None: the LLM component answers them.
    helper: Annotated[HelperModel | None, NoDecode] = None
    # Each helper call's time budget; the request's own deadline still bounds it.
    helper_timeout_s: Annotated[float, Field(gt=0, le=MAX_REQUEST_TIMEOUT_S)] = 5.0
    # API Gateway gives up at 29 s: the app must answer before that.
    request_timeout_s: Annotated[float, Field(gt=0, le=MAX_REQUEST_TIMEOUT_S)] = 25.0
    # Streamed routes are not bound by the 29 s limit; API Gateway streams up to 15 minutes.
    stream_timeout_s: Annotated[float, Field(gt=0, le=MAX_STREAM_TIMEOUT_S)] = 300.0

    qdrant_url: NonEmptyStr | None = None
    qdrant_api_key: SecretStr | None = None
    qdrant_path: NonEmptyStr | None = None
    # A Secrets Manager SecretId (name or ARN) of {"url": ..., "api_key": ...}.
    qdrant_secret_id: NonEmptyStr | None = None

    opik_enabled: bool = False
    # A Secrets Manager SecretId of {"api_key", "workspace", "url", "project_name"} for Opik.
    opik_secret_id: NonEmptyStr | None = None

    # The Batch API's store: a folder (local mode), or S3 + DynamoDB + a state machine (AWS).
    batch_path: NonEmptyStr | None = None
    batch_bucket: NonEmptyStr | None = None
    batch_table: NonEmptyStr | None = None
    batch_state_machine_arn: NonEmptyStr | None = None
    # Records expire with the bucket's objects (model config batch.retention_days).
    batch_retention_days: Annotated[int, Field(ge=1, le=3650)] = 30

    @field_validator(
        "reranker_component",
        "prompt_template",
        "system_prompt",
        "query_expansion_prompt",
        "self_query_prompt",
        "qdrant_url",
        "qdrant_api_key",
        "qdrant_path",
        "qdrant_secret_id",
        "opik_secret_id",
        "batch_path",
        "batch_bucket",
        "batch_table",
        "batch_state_machine_arn",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # Deployment tools often write an empty string for "not set".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("stop", "collections", "cors_origins", mode="before")
    @classmethod
    def _parse_json_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError('not a JSON list of strings, e.g. ["a", "b"]') from None
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError('not a JSON list of strings, e.g. ["a", "b"]')
        return value

    @field_validator("helper", mode="before")
    @classmethod
    def _parse_json_object(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise ValueError('not a JSON object, e.g. {"component": ..., ...}') from None
        return value

    @field_validator("collections")
    @classmethod
    def _collections_named(cls, value: list[str]) -> list[str]:
        if not value or not all(name.strip() for name in value):
            raise ValueError("name at least one collection, with no empty names")
        return list(dict.fromkeys(value))

    @field_validator(
        "prompt_template", "system_prompt", "query_expansion_prompt", "self_query_prompt"
    )
    @classmethod
    def _placeholders(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        try:
            fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
        except ValueError as err:
            raise ValueError(f"not a valid str.format template ({err})") from None
        wanted = PROMPT_PLACEHOLDERS[str(info.field_name)]
        if fields != wanted:
            expected = " and ".join("{" + name + "}" for name in sorted(wanted))
            raise ValueError(
                f"use exactly the placeholders {expected}, found {sorted(fields) or 'none'}"
            )
        return value

    @field_validator("qdrant_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("not an http:// or https:// URL")
        return value

    @model_validator(mode="after")
    def _prompt_for_the_format(self) -> Settings:
        needed, unused = ("prompt_template", "system_prompt")
        if self.prompt_format == "chat":
            needed, unused = unused, needed
        fmt = f"{env_name('prompt_format')} is {self.prompt_format}"
        if getattr(self, needed) is None:
            raise ValueError(f"{env_name(needed)} is required when {fmt}")
        if getattr(self, unused) is not None:
            raise ValueError(f"{env_name(unused)} is set but unused when {fmt}")
        return self

    @model_validator(mode="after")
    def _one_qdrant_location(self) -> Settings:
        given = [name for name in QDRANT_LOCATIONS if getattr(self, name) is not None]
        names = ", ".join(env_name(name) for name in QDRANT_LOCATIONS)
        if len(given) != 1:
            found = ", ".join(env_name(name) for name in given) or "none"
            raise ValueError(f"set exactly one of {names} (found: {found})")
        if self.qdrant_api_key is not None and self.qdrant_url is None:
            raise ValueError(
                f"{env_name('qdrant_api_key')} only applies with {env_name('qdrant_url')}"
            )
        return self

    @model_validator(mode="after")
    def _opik_secret_needs_opik(self) -> Settings:
        if self.opik_secret_id is not None and not self.opik_enabled:
            raise ValueError(
                f"{env_name('opik_secret_id')} is set but {env_name('opik_enabled')} is not true"
            )
        return self

    @model_validator(mode="after")
    def _one_batch_store(self) -> Settings:
        aws = [self.batch_bucket, self.batch_table, self.batch_state_machine_arn]
        names = ", ".join(env_name(n) for n in BATCH_AWS_FIELDS)
        if any(aws) and not all(aws):
            raise ValueError(f"the Batch API on AWS needs all of {names}")
        if all(aws) and self.batch_path is not None:
            raise ValueError(f"set {env_name('batch_path')} or {names}, not both")
        return self

    @property
    def batch_enabled(self) -> bool:
        return self.batch_path is not None or self.batch_bucket is not None


def load_settings() -> Settings:
    """Read and validate the environment, or fail with the names of the bad variables."""
    try:
        return Settings()  # type: ignore[call-arg]  # values come from the environment
    except ValidationError as err:
        raise SettingsError(describe_errors(err)) from None


def describe_errors(err: ValidationError) -> str:
    """One line per problem, naming the environment variable; values stay out (secrets)."""
    problems = []
    for error in err.errors(include_input=False, include_url=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["loc"]:
            field, *inside = (str(part) for part in error["loc"])
            if error["type"] == "missing":
                message = "required but not set"
            # A field of a JSON value (RAG_HELPER's "engine"): name it too.
            where = f" {'.'.join(inside)}" if inside else ""
            problems.append(f"{env_name(field)}{where}: {message}")
        else:
            problems.append(message)
    return "invalid RAG app settings: " + "; ".join(problems)
