"""Reading what a model really writes: rewrites of a question, and the author it names."""

from __future__ import annotations

import pytest

from rag_app.retrieval.expansion import MAX_REWRITE_CHARS, expansion_prompt, parse_rewrites
from rag_app.retrieval.self_query import match_author, named_in, parse_name

QUESTION = "How do RAG systems use retrieval?"
AUTHORS = ["Maxime Labonne", "Paul Iusztin", "Paula Iversen"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("   \n\n  ", []),
        (
            "1. What role does retrieval play in RAG?\n2) Why do RAG systems retrieve?",
            ["What role does retrieval play in RAG?", "Why do RAG systems retrieve?"],
        ),
        (
            "- How is retrieval used by RAG?\n* What does RAG retrieve?\n• Where does RAG look?",
            ["How is retrieval used by RAG?", "What does RAG retrieve?"],
        ),
        (
            '"How is retrieval used by RAG?"\n\u201cWhat does RAG retrieve?\u201d',
            ["How is retrieval used by RAG?", "What does RAG retrieve?"],
        ),
        (
            "Here are two rewrites:\nRewrite 1: How is retrieval used by RAG?\nQ2: Why retrieve?",
            ["How is retrieval used by RAG?", "Why retrieve?"],
        ),
        (
            # The question repeated (case and punctuation aside), and a rewrite twice.
            "how do RAG systems use retrieval\nWhy retrieve?\nwhy retrieve",
            ["Why retrieve?"],
        ),
        (
            "How is retrieval used by RAG? What does RAG retrieve? Where does RAG look?",
            ["How is retrieval used by RAG?", "What does RAG retrieve?"],
        ),
    ],
)
def test_rewrites_are_read_leniently(text: str, expected: list[str]) -> None:
    assert parse_rewrites(text, QUESTION, wanted=2) == expected


def test_rambling_lines_are_dropped() -> None:
    rambling = "Well, " + "retrieval is a long story and " * 20 + "so on."
    assert len(rambling) > MAX_REWRITE_CHARS

    assert parse_rewrites(f"{rambling}\nWhy retrieve?", QUESTION, wanted=3) == ["Why retrieve?"]


def test_the_prompt_asks_for_the_number_wanted() -> None:
    prompt = expansion_prompt("Give {n} rewrites of: {query}", QUESTION, 4)

    assert prompt == f"Give 4 rewrites of: {QUESTION}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("NONE", None),
        ("None.", None),
        ("none of the above", None),
        ("Nobody", None),
        ("N/A", None),
        ("Paul Iusztin", "Paul Iusztin"),
        ("Name: Paul Iusztin", "Paul Iusztin"),
        ('"Maxime Labonne".', "Maxime Labonne"),
        ("\n\n  Author: Maxime Labonne\nThe question asks about DPO.", "Maxime Labonne"),
    ],
)
def test_the_name_is_read_from_the_first_line(text: str, expected: str | None) -> None:
    assert parse_name(text) == expected


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ("Paul Iusztin", "Paul Iusztin"),
        ("paul iusztin", "Paul Iusztin"),
        ("The question mentions Paul Iusztin as the writer", "Paul Iusztin"),
        ("Pual Iusztin", "Paul Iusztin"),
        ("Maxim Labone", "Maxime Labonne"),
        ("Labonne", "Maxime Labonne"),
        # A first name two authors could share is not enough.
        ("Paul", None),
        ("Ada Lovelace", None),
        # The right surname behind a wrong first name names its one author.
        ("Alberto Martinez Labonne", "Maxime Labonne"),
        ("Dr. Paolo Iusztinn", "Paul Iusztin"),
        # A shared first name with another surname does not.
        ("Paul Smith", None),
    ],
)
def test_the_name_is_matched_to_a_known_author(answer: str, expected: str | None) -> None:
    assert match_author(answer, AUTHORS) == expected


def test_a_name_must_appear_in_the_question() -> None:
    assert named_in("Paul Iusztin", "What did Pual Iusztin write about RAG?")
    assert not named_in("Paul Iusztin", QUESTION)
