"""The shipped evaluation corpus and question set are consistent with each other and the contract."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from local.corpus import Document, chunk_document, load_documents

EVALUATION = Path(__file__).resolve().parents[3] / "evaluation"
CORPUS = EVALUATION / "corpus"
QUESTIONS = EVALUATION / "questions.jsonl"

FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str,
    "question": str,
    "relevant_ids": list,
    "key_facts": list,
    "answerable": bool,
    "kind": str,
    "author": (str, type(None)),
    "relevant_docs": list,
}
# What issue 17 asks the set to hold, at least.
MIN_PER_KIND = {"single": 20, "paraphrase": 20, "multi": 10, "author": 15, "unanswerable": 10}
# "A few hundred points": enough for ranks to matter, small enough to ingest in CI.
CHUNK_RANGE = (200, 600)
FOLDERS = {"article": "articles", "post": "posts", "repository": "repositories"}
# Words of an author question that say nothing about its topic.
QUESTION_WORDS = {"what", "write", "about", "does", "take", "many", "much", "often", "find"}


@pytest.fixture(scope="module")
def documents() -> dict[str, Document]:
    """Every corpus document by its path under the corpus folder."""
    loaded, skipped = load_documents(CORPUS)
    assert [path.name for path in skipped] == ["README.md"]
    return {document.path.relative_to(CORPUS).as_posix(): document for document in loaded}


@pytest.fixture(scope="module")
def questions() -> list[dict[str, Any]]:
    lines = QUESTIONS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def normalized(text: str) -> str:
    """Casefolded, one space between words, no thousands separators: 2,317 reads as 2317."""
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text.casefold())
    return re.sub(r"\s+", " ", text)


def mentions(text: str, fact: str) -> bool:
    """Whether `fact` stands in `text` as whole words (so 60 is not found in 600)."""
    pattern = rf"(?<![\w.]){re.escape(normalized(fact))}(?!\w)"
    return re.search(pattern, normalized(text)) is not None


def words(text: str, min_length: int) -> set[str]:
    return {w for w in re.findall(r"[a-zà-ÿ]+", text.casefold()) if len(w) >= min_length}


def test_the_corpus_spans_three_collections_and_several_authors(
    documents: dict[str, Document],
) -> None:
    assert len(documents) >= 60
    assert {d.kind for d in documents.values()} == {"article", "post", "repository"}
    for path, document in documents.items():
        assert path.split("/")[0] == FOLDERS[document.kind], f"{path} is a {document.kind}"
    assert len({d.author for d in documents.values()}) >= 5
    assert len({d.document_id for d in documents.values()}) == len(documents)


def test_the_corpus_chunks_into_a_few_hundred_points(documents: dict[str, Document]) -> None:
    chunks = [chunk for document in documents.values() for chunk in chunk_document(document)]
    low, high = CHUNK_RANGE
    assert low <= len(chunks) <= high
    assert len({chunk.id for chunk in chunks}) == len(chunks)


def test_every_line_has_the_contract_fields(questions: list[dict[str, Any]]) -> None:
    assert len(questions) >= 80
    for question in questions:
        assert set(question) == set(FIELDS), question["id"]
        for field, expected in FIELDS.items():
            assert isinstance(question[field], expected), f"{question['id']}: {field}"
        assert question["kind"] in MIN_PER_KIND, question["id"]
        assert question["answerable"] is (question["kind"] != "unanswerable"), question["id"]
    ids = [question["id"] for question in questions]
    assert len(set(ids)) == len(ids)


def test_every_kind_has_its_minimum(questions: list[dict[str, Any]]) -> None:
    counts = Counter(question["kind"] for question in questions)
    for kind, minimum in MIN_PER_KIND.items():
        assert counts[kind] >= minimum, f"{kind}: {counts[kind]} < {minimum}"


def test_relevant_ids_are_the_payload_ids_of_relevant_docs(
    questions: list[dict[str, Any]], documents: dict[str, Document]
) -> None:
    for question in questions:
        docs = question["relevant_docs"]
        assert len(set(docs)) == len(docs), question["id"]
        unknown = [path for path in docs if path not in documents]
        assert not unknown, f"{question['id']}: not corpus documents: {unknown}"
        expected = [documents[path].document_id for path in docs]
        assert question["relevant_ids"] == expected, (
            f"{question['id']}: run python -m evaluation.build_question_ids"
        )


def test_answerable_questions_have_facts_found_in_their_documents(
    questions: list[dict[str, Any]], documents: dict[str, Document]
) -> None:
    for question in (q for q in questions if q["answerable"]):
        assert question["relevant_docs"], question["id"]
        assert question["key_facts"], question["id"]
        texts = [documents[path].text for path in question["relevant_docs"]]
        for fact in question["key_facts"]:
            assert any(mentions(text, fact) for text in texts), f"{question['id']}: {fact!r}"
            # A question that states its own answer measures nothing.
            assert not mentions(question["question"], fact), f"{question['id']}: {fact!r}"


def test_unanswerable_questions_point_nowhere(questions: list[dict[str, Any]]) -> None:
    for question in (q for q in questions if q["kind"] == "unanswerable"):
        assert question["relevant_ids"] == [], question["id"]
        assert question["relevant_docs"] == [], question["id"]
        assert question["key_facts"] == [], question["id"]


def test_multi_document_questions_need_two_documents(questions: list[dict[str, Any]]) -> None:
    for question in (q for q in questions if q["kind"] == "multi"):
        assert len(question["relevant_docs"]) >= 2, question["id"]
        assert len(question["key_facts"]) >= 2, question["id"]


def test_author_questions_name_a_real_author_of_their_documents(
    questions: list[dict[str, Any]], documents: dict[str, Document]
) -> None:
    authors = {document.author for document in documents.values()}
    for question in questions:
        if question["kind"] == "author":
            assert question["author"] is not None, question["id"]
        if question["author"] is None:
            continue
        assert question["author"] in authors, question["id"]
        assert question["author"] in question["question"], question["id"]
        for path in question["relevant_docs"]:
            assert documents[path].author == question["author"], f"{question['id']}: {path}"


def test_author_questions_have_other_authors_on_the_topic(
    questions: list[dict[str, Any]], documents: dict[str, Document]
) -> None:
    # Self-query is only tested when the unfiltered search could pick another author's text:
    # some topic word of the question must also occur in someone else's document.
    for question in (q for q in questions if q["kind"] == "author"):
        topic = words(question["question"], 4) - words(question["author"], 4) - QUESTION_WORDS
        others = [d for d in documents.values() if d.author != question["author"]]
        assert any(topic & words(d.text, 4) for d in others), question["id"]


def test_paraphrases_share_no_long_word_with_their_document_titles(
    questions: list[dict[str, Any]], documents: dict[str, Document]
) -> None:
    for question in (q for q in questions if q["kind"] == "paraphrase"):
        for path in question["relevant_docs"]:
            document = documents[path]
            title = document.title or document.name or ""
            shared = words(question["question"], 6) & words(title, 6)
            assert not shared, f"{question['id']} shares {sorted(shared)} with {path}"
