"""A first `make local` on an empty store loads the sample corpus instead of stopping."""

from __future__ import annotations

from pathlib import Path

import pytest

from local.corpus import chunk_document, load_documents
from local.ingest import load_sample_corpus_if_empty
from local.settings import SAMPLE_CORPUS
from model_config import DEFAULT_MODEL, load_config


def test_an_empty_store_gets_the_sample_corpus_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    collections = load_config(DEFAULT_MODEL).retrieval.collections
    documents, _ = load_documents(SAMPLE_CORPUS)
    expected: dict[str, int] = dict.fromkeys(collections, 0)
    for document in documents:
        expected[document.collection] += len(chunk_document(document))
    store = tmp_path / "store"

    first = load_sample_corpus_if_empty(store, collections)
    assert "is empty: loading the sample corpus" in capsys.readouterr().out
    assert {name: first.get(name, 0) for name in collections} == expected

    # Filled now: counted, not loaded again.
    assert load_sample_corpus_if_empty(store, collections) == expected
    assert "loading the sample corpus" not in capsys.readouterr().out
