"""The app's own defaults (used when a variable is unset) are the model config's defaults."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from model_config.schema import Api, Generation, Retrieval
from rag_app.settings import Settings

SHARED = [
    (Retrieval, "top_k"),
    (Retrieval, "query_expansion"),
    (Retrieval, "self_query"),
    (Retrieval, "fusion"),
    (Retrieval, "helper_timeout_s"),
    (Retrieval, "chars_per_token"),
    (Retrieval, "collections"),
    (Generation, "max_new_tokens"),
    (Generation, "temperature"),
    (Generation, "top_p"),
    (Generation, "stop"),
    (Generation, "repetition_penalty"),
    (Api, "request_timeout_s"),
    (Api, "stream_timeout_s"),
]


@pytest.mark.parametrize(("section", "field"), SHARED, ids=[field for _, field in SHARED])
def test_the_apps_default_is_the_configs(section: type[BaseModel], field: str) -> None:
    assert Settings.model_fields[field].default == section.model_fields[field].default
