"""Key facts, citations and declines, with the normalization the README promises."""

from __future__ import annotations

import pytest

from evaluation.answer_metrics import (
    cites_labelled,
    contains_fact,
    declines,
    key_fact_recall,
    normalize,
)


@pytest.mark.parametrize(
    ("answer", "fact"),
    [
        ("They counted 2317 nests.", "2,317"),
        ("They counted 2,317 nests.", "2317"),
        ("They counted 2\u202f317 nests.", "2,317"),
        ("Über 1.000.000", "über 1.000.000"),
        ("The SKERRY  HOLM census", "Skerry Holm"),
        ("Runs 2023\u20132024", "2023-2024"),
        ("It is \u22125 degrees", "-5"),
        ("Ilse\u2019s scheduler", "Ilse's"),
        ("burst of 480.", "480"),
    ],
)
def test_a_fact_matches_through_formatting(answer: str, fact: str) -> None:
    assert contains_fact(answer, fact)


@pytest.mark.parametrize(
    ("answer", "fact"),
    [
        ("The burst is 4800.", "480"),
        ("The burst is 1480.", "480"),
        ("Counted 2,318 nests.", "2,317"),
        ("Tidewells", "Tidewell"),
        ("anything", "   "),
    ],
)
def test_a_fact_needs_its_own_words(answer: str, fact: str) -> None:
    assert not contains_fact(answer, fact)


def test_key_fact_recall_is_the_share_of_facts_stated() -> None:
    answer = "Sluicegate allows a burst of 480 and refills 12 tokens a second."
    assert key_fact_recall(answer, ["480", "12", "Weir"]) == pytest.approx(2 / 3)
    assert key_fact_recall(answer, []) is None


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "I don't know.",
        "The context does not mention the capital of the moon.",
        "That is not mentioned in the sources.",
        "There is no information about that in the documents.",
        "I'm unable to answer that from the context provided.",
        "The answer cannot be determined from the text.",
    ],
)
def test_declines_are_detected(answer: str) -> None:
    assert declines(answer)


@pytest.mark.parametrize(
    "answer",
    ["Sluicegate's default burst is 480.", "The tern count rose to 2,317 in 2024."],
)
def test_answers_are_not_declines(answer: str) -> None:
    assert not declines(answer)


def test_normalize_folds_case_dashes_and_separators() -> None:
    assert normalize("  Priya Tamsin\u2011Hale\u00a0counted 12,345\n") == (
        "priya tamsin-hale counted 12345"
    )


def test_cites_labelled_needs_a_labelled_document_among_sources() -> None:
    assert cites_labelled([None, "B", "C"], ["C"])
    assert not cites_labelled([None, "B"], ["C"])
    assert not cites_labelled([], ["C"])
