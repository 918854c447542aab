"""The pipeline's steps and its per-request trace, below the HTTP layer."""

from __future__ import annotations

import asyncio

import pytest
from fastapi import FastAPI

from rag_app.errors import InvalidRequest
from rag_app.pipeline import RagPipeline, Sampling
from rag_app.schemas import RagRequest

from ..support import FakeSageMaker, RecordCollector


def pipeline_of(app: FastAPI) -> RagPipeline:
    pipeline: RagPipeline = app.state.pipeline
    return pipeline


def test_generation_params_default_to_the_settings(app: FastAPI) -> None:
    params = pipeline_of(app).generation_params(Sampling())

    assert params.max_new_tokens == 150
    assert params.temperature == 0.01
    assert params.top_p == 0.9
    assert params.stop == ["<|eot_id|>"]
    assert params.truncate == 2048
    assert params.seed is None


def test_generation_overrides_stay_within_the_configured_maximum(app: FastAPI) -> None:
    pipeline = pipeline_of(app)

    params = pipeline.generation_params(
        Sampling(max_new_tokens=150, temperature=0.0, top_p=1.0, stop=("##",), seed=3)
    )
    assert (params.max_new_tokens, params.temperature, params.top_p) == (150, 0.0, 1.0)
    assert (params.stop, params.seed) == (["<|eot_id|>", "##"], 3)
    with pytest.raises(InvalidRequest, match="at most 150"):
        pipeline.generation_params(Sampling(max_new_tokens=151))
    # The engine takes four stop strings, the config's own first; the app applies the rest.
    params = pipeline.generation_params(Sampling(stop=("a", "b", "c", "d")))
    assert (params.stop, params.app_stop) == (["<|eot_id|>", "a", "b", "c"], ["d"])


def test_answer_emits_one_trace(
    app: FastAPI, fake_sagemaker: FakeSageMaker, app_logs: RecordCollector
) -> None:
    answer = asyncio.run(pipeline_of(app).answer(RagRequest(query="q", k=2), "req-42"))

    assert answer.answer == "Here is my answer."
    assert len(answer.sources) == 2
    [trace] = app_logs.traces()
    assert trace["request_id"] == "req-42"
    assert trace["model_id"] == "mlabonne/TwinLlama-3.1-8B-DPO"
    assert len(trace["retrieved"]) == 2
    assert trace["latency_ms"]["total"] >= trace["latency_ms"]["generate"]
    assert [component for component, _ in fake_sagemaker.calls] == [
        "twin-embedding",
        "twin-llm",
    ]


def test_failed_step_is_traced_with_its_error(app: FastAPI, app_logs: RecordCollector) -> None:
    async def broken_embed(texts: list[str]) -> list[list[float]]:
        raise RuntimeError("bug")

    pipeline = pipeline_of(app)
    pipeline.retrieval.steps.embedder.embed_many = broken_embed  # type: ignore[method-assign]

    with pytest.raises(RuntimeError):
        asyncio.run(pipeline.answer(RagRequest(query="q"), "req-43"))

    [trace] = app_logs.traces()
    assert trace["error_code"] == "internal_error"
    assert set(trace["latency_ms"]) == {"embed", "total"}
