"""POST /rag over HTTP through the real app, the local endpoint and the seeded store, for a
config on each serving engine."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import httpx
import pytest
from qdrant_client import QdrantClient

from local.corpus import author_id
from tests.integration.conftest import STACK_GROUP, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

MOTH_QUESTION = "How many lantern moths were counted on Skerry Holm in 2023?"
MOTH_ARTICLE = "https://ilsemarrow.example/articles/skerry-holm-moth-census"
# Short answers keep the suite fast on two cores.
SHORT = 24


def _ask(api: httpx.Client, **body: Any) -> httpx.Response:
    return api.post("/rag", json={"max_new_tokens": SHORT, **body})


def model_input(request: dict[str, Any]) -> str:
    """The text the LLM component was given, whichever contract carried it."""
    if "inputs" in request:  # TGI generate
        return str(request["inputs"])
    if "prompt" in request:  # OpenAI completion
        return str(request["prompt"])
    return json.dumps(request["messages"])  # OpenAI chat


def test_health(engine_api: httpx.Client) -> None:
    response = engine_api.get("/health")
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_answer_comes_from_the_model_with_the_seeded_source(
    engine_api: httpx.Client, engine_stack: Stack
) -> None:
    api, stack = engine_api, engine_stack
    before = len(stack.invocations())
    response = _ask(api, query=MOTH_QUESTION)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["answer"].strip()
    links = [source.get("link") for source in body["sources"]]
    assert MOTH_ARTICLE in links
    top = body["sources"][0]
    assert top["link"] == MOTH_ARTICLE
    assert top["author_full_name"] == "Ilse Marrow"

    calls = stack.invocations()[before:]
    components = [call["component"] for call in calls]
    assert stack.embedding in components
    llm = [call for call in calls if call["component"] == stack.llm]
    assert len(llm) == 1
    stats = llm[0]["stats"]
    assert llm[0]["status"] == 200
    assert 0 < stats["generated_tokens"] <= SHORT
    # The question and the seeded document reached the model, and its words are the answer.
    prompt = model_input(stats["request"])
    assert MOTH_QUESTION in prompt
    assert "4,182 lantern moths" in prompt
    assert body["answer"].strip() in stats["generated_text"]
    contract = "inputs" if stack.engine == "tgi" else "prompt"
    assert contract in stats["request"]


def test_author_filter_keeps_other_authors_out(engine_api: httpx.Client) -> None:
    hiker = author_id("Tomas Reyes-Lind")
    response = _ask(engine_api, query="How long is the Varn ridge walk?", author_id=hiker, k=3)
    assert response.status_code == 200, response.text
    sources = response.json()["sources"]
    assert sources
    assert {source["author_id"] for source in sources} == {hiker}


def test_invalid_requests_get_json_errors(engine_api: httpx.Client) -> None:
    response = engine_api.post("/rag", json={"query": ""})
    assert response.status_code == 422
    error = response.json()["error"]
    assert set(error) >= {"code", "message", "request_id"}


def test_stored_vectors_match_the_query_embedding(
    runtime_client: Any, stack: Stack, store_copy: Path
) -> None:
    """Ingest and the app's query path use the same model, pooling and normalization."""
    client = QdrantClient(path=str(store_copy))
    try:
        points, _ = client.scroll("embedded_articles", limit=1, with_vectors=True)
    finally:
        client.close()
    (point,) = points
    stored = point.vector
    assert isinstance(stored, list)
    assert len(stored) == 384
    response = runtime_client.invoke_endpoint(
        EndpointName=stack.endpoint,
        InferenceComponentName=stack.embedding,
        ContentType="application/json",
        Body=json.dumps({"inputs": point.payload["content"], "normalize": True}),
    )
    (served,) = json.loads(response["Body"].read())
    cosine = sum(a * b for a, b in zip(stored, served, strict=True))
    assert math.isclose(cosine, 1.0, abs_tol=1e-5)
