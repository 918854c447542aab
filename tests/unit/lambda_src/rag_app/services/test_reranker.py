"""Reading TEI rerank answers."""

from __future__ import annotations

from typing import Any

import pytest

from rag_app.errors import UpstreamFailed
from rag_app.services.reranker import parse_rerank_scores


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
