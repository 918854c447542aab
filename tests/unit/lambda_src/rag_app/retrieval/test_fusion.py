"""Merging rankings: reciprocal rank fusion against hand-computed scores, and best score."""

from __future__ import annotations

from typing import Any

import pytest

from rag_app.retrieval.fusion import RRF_K, by_best_score, fuse, reciprocal_rank_fusion
from rag_app.services.retriever import Chunk


def chunk(point_id: str, score: float, **payload: Any) -> Chunk:
    return Chunk("embedded_posts", point_id, score, f"text of {point_id}", payload)


def ids(chunks: list[Chunk]) -> list[str]:
    return [c.point_id for c in chunks]


def test_rrf_matches_a_hand_computed_fusion() -> None:
    # Phrasing 1 ranks a, b, c; phrasing 2 ranks c, a, d; phrasing 3 ranks d, c.
    #   a: 1/61 + 1/62         = 0.032522...
    #   b: 1/62                = 0.016129...
    #   c: 1/63 + 1/61 + 1/62  = 0.048266...
    #   d: 1/63 + 1/61         = 0.032266...
    first = [chunk("a", 0.9), chunk("b", 0.8), chunk("c", 0.7)]
    second = [chunk("c", 0.95), chunk("a", 0.6), chunk("d", 0.5)]
    third = [chunk("d", 0.99), chunk("c", 0.2)]

    fused = reciprocal_rank_fusion([first, second, third])

    assert RRF_K == 60
    assert ids(fused) == ["c", "a", "d", "b"]
    assert [c.score for c in fused] == pytest.approx(
        [1 / 63 + 1 / 61 + 1 / 62, 1 / 61 + 1 / 62, 1 / 63 + 1 / 61, 1 / 62]
    )


def test_rrf_ties_keep_the_order_first_met() -> None:
    fused = reciprocal_rank_fusion([[chunk("a", 0.1)], [chunk("b", 0.9)]])

    assert ids(fused) == ["a", "b"]


def test_rrf_counts_a_duplicate_chunk_once_per_ranking_at_its_best_rank() -> None:
    same_text = {"document_id": "doc-1"}
    first = [
        Chunk("embedded_articles", "a", 0.9, "shared", same_text),
        Chunk("embedded_posts", "a-copy", 0.8, "shared", same_text),
        chunk("b", 0.7),
    ]

    fused = reciprocal_rank_fusion([first, [chunk("b", 0.5)]])

    assert ids(fused) == ["b", "a"]
    assert fused[1].score == pytest.approx(1 / 61)
    assert fused[0].score == pytest.approx(1 / 62 + 1 / 61)


def test_best_score_keeps_each_points_highest_score() -> None:
    fused = by_best_score([[chunk("a", 0.5), chunk("b", 0.4)], [chunk("b", 0.9)]])

    assert ids(fused) == ["b", "a"]
    assert [c.score for c in fused] == [0.9, 0.5]


@pytest.mark.parametrize("method", ["rrf", "max"])
def test_one_ranking_keeps_its_own_scores(method: str) -> None:
    ranking = [chunk("a", 0.9), chunk("b", 0.8)]

    assert fuse([ranking], method) == ranking


def test_fuse_picks_the_method() -> None:
    first = [chunk("a", 0.9), chunk("b", 0.2)]
    second = [chunk("b", 0.3), chunk("c", 0.8)]

    assert ids(fuse([first, second], "max")) == ["a", "c", "b"]
    assert ids(fuse([first, second], "rrf")) == ["b", "a", "c"]
