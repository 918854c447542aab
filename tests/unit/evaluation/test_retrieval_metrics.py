"""Retrieval metrics on document ids, checked against values worked out by hand."""

from __future__ import annotations

import math

import pytest

from evaluation.retrieval_metrics import document_ranking, retrieval_scores
from tests.unit.evaluation.support import question, ranked


def test_a_documents_chunks_count_once_at_their_first_rank() -> None:
    chunks = ranked("A", "C", "A", None, "B", "C")
    assert document_ranking(chunks) == ["A", "C", "B"]
    # The API's order is by rank, whatever order the list arrives in.
    assert document_ranking(list(reversed(chunks))) == ["A", "C", "B"]


def test_scores_match_hand_computed_values() -> None:
    questions = [
        question("q1", ["A", "B"]),
        question("q2", ["D"]),
        question("q3", ["F", "G"]),
        question("q4", ["H"]),
        question("q5", ["B", "E"]),
        question("q6", []),  # unanswerable: not a retrieval question
    ]
    rankings = {
        "q1": ["A", "C", "B"],  # both found, at ranks 1 and 3
        "q2": ["E", "D"],  # found at rank 2
        "q3": ["H"],  # nothing relevant
        "q4": [],  # nothing retrieved at all
        "q5": ["C", "E"],  # one of two, at rank 2
        "q6": ["A"],
    }
    scores = retrieval_scores(questions, rankings)
    log2 = math.log2
    expected = {
        "hit_rate@k": {"q1": 1, "q2": 1, "q3": 0, "q4": 0, "q5": 1},
        "recall@k": {"q1": 1, "q2": 1, "q3": 0, "q4": 0, "q5": 0.5},
        "mrr": {"q1": 1, "q2": 0.5, "q3": 0, "q4": 0, "q5": 0.5},
        "ndcg@k": {
            # DCG = 1/log2(1+1) + 1/log2(3+1); ideal = 1 + 1/log2(3)
            "q1": (1 + 1 / log2(4)) / (1 + 1 / log2(3)),
            "q2": 1 / log2(3),
            "q3": 0,
            "q4": 0,
            # DCG = 1/log2(3); ideal: two relevant documents, 1 + 1/log2(3)
            "q5": (1 / log2(3)) / (1 + 1 / log2(3)),
        },
    }
    assert set(scores) == set(expected)
    for metric, by_question in expected.items():
        assert scores[metric] == pytest.approx(by_question), metric


def test_questions_without_an_outcome_are_left_out() -> None:
    scores = retrieval_scores([question("q1", ["A"]), question("q2", ["B"])], {"q2": ["B"]})
    assert scores["mrr"] == {"q2": 1.0}
