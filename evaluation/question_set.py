"""The labelled question set: one JSON object per line, validated line by line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

DEFAULT_SET = Path(__file__).resolve().parent / "questions.jsonl"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Kind = Literal["single", "paraphrase", "multi", "author", "unanswerable"]


class QuestionSetError(ValueError):
    """A question set that cannot be used; the message names the file, line and field."""


class Question(BaseModel):
    """One labelled question (the format evaluation/README.md documents)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Text
    question: Text
    relevant_ids: list[Text] = Field(description="payload document_ids that answer it")
    key_facts: list[Text] = []
    answerable: bool
    kind: Kind | None = None
    author: Text | None = None
    relevant_docs: list[Text] = []

    @model_validator(mode="after")
    def _labels_agree(self) -> Question:
        if self.answerable and not self.relevant_ids:
            raise ValueError("relevant_ids: an answerable question needs at least one document")
        if not self.answerable and (self.relevant_ids or self.key_facts):
            raise ValueError("an unanswerable question has no relevant_ids and no key_facts")
        if (self.kind == "unanswerable") == self.answerable:
            raise ValueError("kind: 'unanswerable' goes with answerable false, and only with it")
        return self


def _describe(error: ValidationError) -> str:
    """The first problem, as `field: message`."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"])
    # A check across fields (the model validator) names its fields in its own message.
    message = first["msg"].removeprefix("Value error, ")
    return f"{field}: {message}" if field else message


def parse_line(text: str) -> Question:
    """One line's question; ValueError with `field: message` if it is not one."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"not JSON ({err.msg} at column {err.colno})") from None
    if not isinstance(raw, dict):
        raise ValueError("a line must be a JSON object")
    try:
        return Question.model_validate(raw)
    except ValidationError as err:
        raise ValueError(_describe(err)) from None


def load_questions(path: Path) -> list[Question]:
    """Every question in the file, blank lines skipped; ids must be unique."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as err:
        raise QuestionSetError(f"cannot read the question set {path}: {err.strerror}") from None
    questions: list[Question] = []
    first_line: dict[str, int] = {}
    for number, text in enumerate(lines, start=1):
        if not text.strip():
            continue
        try:
            question = parse_line(text)
        except ValueError as err:
            raise QuestionSetError(f"{path}:{number}: {err}") from None
        if question.id in first_line:
            raise QuestionSetError(
                f"{path}:{number}: id: {question.id!r} already used on line "
                f"{first_line[question.id]}"
            )
        first_line[question.id] = number
        questions.append(question)
    if not questions:
        raise QuestionSetError(f"{path}: no questions")
    return questions
