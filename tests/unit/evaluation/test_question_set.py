"""The question set loads line by line, and a bad line names its line number and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from evaluation.question_set import QuestionSetError, load_questions

GOOD: dict[str, Any] = {
    "id": "q001",
    "question": "How many lantern moths were counted on Skerry Holm in 2023?",
    "relevant_ids": ["584f6b48-7467-54cf-b386-1f813b64ba7b"],
    "key_facts": ["1,204"],
    "answerable": True,
    "kind": "single",
    "author": None,
    "relevant_docs": ["articles/skerry-holm-moth-census.md"],
}
UNANSWERABLE: dict[str, Any] = {
    "id": "q002",
    "question": "What is the capital of the moon?",
    "relevant_ids": [],
    "key_facts": [],
    "answerable": False,
    "kind": "unanswerable",
}


def write(tmp_path: Path, *lines: dict[str, Any] | str) -> Path:
    path = tmp_path / "set.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def test_a_valid_set_loads_every_question_and_skips_blank_lines(tmp_path: Path) -> None:
    questions = load_questions(write(tmp_path, GOOD, "", UNANSWERABLE))
    assert [q.id for q in questions] == ["q001", "q002"]
    assert questions[0].key_facts == ["1,204"]
    assert not questions[1].answerable


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{not json", r"set\.jsonl:2: not JSON"),
        ("[1, 2]", r"set\.jsonl:2: a line must be a JSON object"),
        (
            {k: v for k, v in GOOD.items() if k != "question"} | {"id": "q9"},
            r":2: question: Field required",
        ),
        (GOOD | {"id": "q9", "answerable": "maybe"}, r":2: answerable: "),
        (GOOD | {"id": "q9", "relevant_ids": "abc"}, r":2: relevant_ids: "),
        (GOOD | {"id": "q9", "kind": "trivia"}, r":2: kind: "),
        (GOOD | {"id": "q9", "question": "   "}, r":2: question: "),
        (GOOD | {"id": "q9", "colour": "blue"}, r":2: colour: Extra inputs"),
        (GOOD | {"id": "q9", "relevant_ids": []}, r":2: relevant_ids: an answerable question"),
        (UNANSWERABLE | {"id": "q9", "key_facts": ["x"]}, r":2: an unanswerable question has no"),
        (GOOD | {"id": "q9", "kind": "unanswerable"}, r":2: kind: 'unanswerable' goes with"),
        (GOOD, r":2: id: 'q001' already used on line 1"),
    ],
)
def test_a_bad_line_names_its_line_and_field(
    tmp_path: Path, line: dict[str, Any] | str, expected: str
) -> None:
    with pytest.raises(QuestionSetError, match=expected):
        load_questions(write(tmp_path, GOOD, line))


def test_an_empty_or_missing_set_is_an_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(QuestionSetError, match="no questions"):
        load_questions(empty)
    with pytest.raises(QuestionSetError, match="cannot read the question set"):
        load_questions(tmp_path / "absent.jsonl")
