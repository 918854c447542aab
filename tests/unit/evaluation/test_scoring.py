"""A tiny run scored end to end: retrieval, answers, latency, and the comparison's flags."""

from __future__ import annotations

import pytest

from evaluation.scoring import compare, score_variant
from tests.unit.evaluation.support import outcome, question

QUESTIONS = [
    question("q1", ["A"], ["2,317", "Brimstead"]),
    question("q2", ["B"], ["480"]),
    question("q3", []),
    question("q4", ["D"], ["12"]),
]


def test_every_metric_of_a_tiny_run() -> None:
    outcomes = [
        outcome("q1", ["A", "C"], "Brimstead counted 2317 nests."),
        outcome("q2", ["C", "B"], "The context does not say."),
        outcome("q3", ["C"], "I don't know."),
        outcome("q4", ["E"], "It is 12."),
    ]
    scores = score_variant(QUESTIONS, outcomes)
    assert scores["hit_rate@k"] == {"q1": 1, "q2": 1, "q4": 0}
    assert scores["mrr"] == {"q1": 1, "q2": 0.5, "q4": 0}
    assert scores["key_fact_recall"] == {"q1": 1, "q2": 0, "q4": 1}
    # Sources are the first two retrieved documents (support.outcome).
    assert scores["cites_labelled"] == {"q1": 1, "q2": 1, "q4": 0}
    assert scores["declines_unanswerable"] == {"q3": 1}
    assert scores["false_decline"] == {"q1": 0, "q2": 1, "q4": 0}
    assert scores["ttft_ms"] == dict.fromkeys(["q1", "q2", "q3", "q4"], 300.0)
    assert scores["latency_ms.embed"]["q1"] == 5.0


def test_an_answer_that_states_a_key_fact_is_no_decline() -> None:
    hedged = outcome("q2", ["B"], "It is 480; there is no information about other sizes.")
    scores = score_variant(QUESTIONS, [hedged])
    assert scores["false_decline"] == {"q2": 0.0}
    assert scores["key_fact_recall"] == {"q2": 1.0}


def test_retrieval_only_outcomes_have_no_answer_metrics() -> None:
    scores = score_variant(QUESTIONS, [outcome("q1", ["A"]), outcome("q3", ["C"])])
    assert "key_fact_recall" not in scores
    assert "declines_unanswerable" not in scores
    assert scores["recall@k"] == {"q1": 1}


def test_a_failed_request_leaves_its_question_out() -> None:
    failed = outcome("q2", ["B"])
    failed.error = "HTTP 502"
    scores = score_variant(QUESTIONS, [outcome("q1", ["A"]), failed])
    assert scores["mrr"] == {"q1": 1}


def test_a_drop_beyond_the_interval_is_flagged_worse_and_a_latency_rise_too() -> None:
    n = 20
    qs = [question(f"q{i}", ["A"]) for i in range(n)]
    base = score_variant(qs, [outcome(q.id, ["A"]) for q in qs])
    # Relevant document pushed to rank 2 on every other question.
    lower = [outcome(q.id, ["A"] if i % 2 else ["C", "A"]) for i, q in enumerate(qs)]
    other = score_variant(qs, lower)
    for q in qs:
        other["latency_ms.client"][q.id] += 100.0
    mrr = compare(base, other, "mrr")
    assert mrr.value.mean == pytest.approx(0.75)
    assert mrr.difference is not None
    assert mrr.difference.mean == pytest.approx(-0.25)
    assert mrr.flag == "worse"
    assert compare(base, other, "hit_rate@k").flag == ""
    assert compare(base, other, "latency_ms.client").flag == "worse"
    assert compare(other, base, "mrr").flag == "better"
    assert compare(base, base, "mrr").difference is None


def test_fallbacks_and_author_filters_are_counted() -> None:
    expanded = outcome("q1", ["A"])
    expanded.retrieval = {"fallbacks": ["expand_timeout"], "author": None}
    filtered = outcome("q2", ["B"])
    filtered.retrieval = {"fallbacks": [], "author": {"name": "Ilse", "filtered": True}}
    scores = score_variant(QUESTIONS, [expanded, filtered, outcome("q4", ["D"])])
    assert scores["fell_back"] == {"q1": 1.0, "q2": 0.0}
    assert scores["author_filtered"] == {"q1": 0.0, "q2": 1.0}
