"""Reading TEI rerank answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rag_app.errors import UpstreamFailed
from rag_app.services.reranker import MAX_TEXTS, Reranker, parse_rerank_scores
from rag_app.services.retriever import Chunk


def test_scores_by_index() -> None:
    answer = [{"index": 2, "score": 0.9}, {"index": 0, "score": 0.1}]

    assert parse_rerank_scores(answer, 3) == {2: 0.9, 0: 0.1}


@pytest.mark.parametrize(
    "answer",
    [
        None,
        {"index": 0, "score": 1},
        [{"index": 3, "score": 0.5}],
        [{"index": -1, "score": 0.5}],
        [{"index": 0, "score": 0.5}, {"index": 0, "score": 0.4}],
        [{"index": "0", "score": 0.5}],
        [{"index": 0, "score": "high"}],
        [{"index": 0, "score": float("nan")}],
        [{"index": True, "score": 0.5}],
        ["0.5"],
    ],
)
def test_anything_else_is_an_upstream_failure(answer: Any) -> None:
    with pytest.raises(UpstreamFailed, match="reranker returned an unexpected"):
        parse_rerank_scores(answer, 3)


def test_sends_at_most_one_tei_batch_of_texts() -> None:
    sent: list[dict[str, Any]] = []

    class Runtime:
        async def invoke(self, component: str, payload: dict[str, Any], *, role: str) -> Any:
            sent.append(payload)
            return [{"index": i, "score": float(i)} for i in range(len(payload["texts"]))]

    chunks = [Chunk("embedded_posts", str(i), 1.0 - i / 100, f"text {i}", {}) for i in range(40)]
    reranker = Reranker(Runtime(), "twin-reranker")  # type: ignore[arg-type]

    reranked = asyncio.run(reranker.rerank("q", chunks))

    [payload] = sent
    assert payload == {
        "query": "q",
        "texts": [f"text {i}" for i in range(MAX_TEXTS)],
        "truncate": True,
    }
    assert [chunk.point_id for chunk in reranked[:2]] == [str(MAX_TEXTS - 1), str(MAX_TEXTS - 2)]
    assert reranked[0].score == MAX_TEXTS - 1
