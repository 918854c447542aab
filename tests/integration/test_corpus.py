"""The sample corpus and the chunker: stable ids and the reference payload schema."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from local.corpus import (
    MAX_CHUNK_CHARS,
    CorpusError,
    author_id,
    chunk_document,
    load_documents,
    parse_document,
    split_text,
)
from local.settings import SAMPLE_CORPUS

COLLECTIONS = {
    "article": "embedded_articles",
    "post": "embedded_posts",
    "repository": "embedded_repositories",
}


def _is_uuid(value: object) -> bool:
    return isinstance(value, str) and str(uuid.UUID(value)) == value


def test_the_sample_corpus_has_every_kind_and_skips_its_readme() -> None:
    documents, skipped = load_documents(SAMPLE_CORPUS)
    assert [path.name for path in skipped] == ["README.md"]
    kinds = sorted(document.kind for document in documents)
    assert kinds.count("article") >= 3
    assert kinds.count("post") >= 3
    assert kinds.count("repository") >= 1
    assert len({document.author for document in documents}) == 2


def test_chunks_carry_the_reference_payload_per_collection() -> None:
    documents, _ = load_documents(SAMPLE_CORPUS)
    for document in documents:
        for chunk in chunk_document(document):
            payload = chunk.payload
            assert _is_uuid(chunk.id)
            assert _is_uuid(payload["document_id"])
            assert payload["author_id"] == author_id(document.author)
            assert payload["author_full_name"] == document.author
            assert payload["content"] == chunk.content
            assert len(chunk.content) <= MAX_CHUNK_CHARS
            expected = {"content", "platform", "document_id", "author_id", "author_full_name"}
            if document.kind in ("article", "repository"):
                expected.add("link")
            if document.kind == "repository":
                expected.add("name")
            assert set(payload) == expected
            assert chunk.collection == COLLECTIONS[document.kind]


def test_ids_are_stable_across_runs() -> None:
    first = [c.id for d in load_documents(SAMPLE_CORPUS)[0] for c in chunk_document(d)]
    second = [c.id for d in load_documents(SAMPLE_CORPUS)[0] for c in chunk_document(d)]
    assert first == second
    assert len(set(first)) == len(first)


def test_long_paragraphs_are_cut_at_sentences() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(200))
    pieces = split_text(text, max_chars=300)
    assert len(pieces) > 5
    assert all(len(piece) <= 300 for piece in pieces)
    assert all(piece.endswith(".") for piece in pieces)
    assert " ".join(pieces) == text


def test_front_matter_problems_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "post.md"
    bad.write_text("---\nkind: article\nauthor: A\nplatform: p\n---\nText\n")
    with pytest.raises(CorpusError, match=r"post\.md: front matter lacks link"):
        parse_document(bad)
    bad.write_text("---\nkind: tweet\n---\nText\n")
    with pytest.raises(CorpusError, match="kind must be one of"):
        parse_document(bad)
