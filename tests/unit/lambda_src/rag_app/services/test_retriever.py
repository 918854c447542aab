"""Searching the local Qdrant store, merging and de-duplicating hits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from rag_app.errors import UpstreamFailed, UpstreamTimedOut
from rag_app.retrieval.filters import NO_FILTER, SearchFilter
from rag_app.services.retriever import Chunk, QdrantStore, Retriever, merge_hits
from rag_app.settings import SettingsError, load_settings

from ...support import AUTHOR_PAUL, QUERY_VECTOR, SEED_POINTS, point_id_of


def chunk(point_id: str, score: float, content: str = "text", **payload: Any) -> Chunk:
    return Chunk("embedded_posts", point_id, score, content, {"content": content, **payload})


def test_merge_orders_by_score_and_keeps_the_best_duplicate() -> None:
    best = chunk("p1", 0.9, "same", document_id="doc-1")
    duplicate = chunk("p2", 0.8, "same", document_id="doc-1")
    other_text = chunk("p3", 0.7, "different", document_id="doc-1")
    no_document = chunk("p4", 0.95)
    same_point = chunk("p4", 0.5)

    merged = merge_hits([[duplicate, other_text, same_point], [best, no_document]])

    assert merged == [no_document, best, other_text]


@pytest.fixture
def store(rag_env: dict[str, str]) -> Any:
    opened = QdrantStore(load_settings())
    yield opened
    opened.close()


def test_searches_all_collections_and_deduplicates(store: QdrantStore) -> None:
    retriever = Retriever(store, list(SEED_POINTS))

    hits = asyncio.run(retriever.retrieve(QUERY_VECTOR, 10, NO_FILTER))

    assert [hit.point_id for hit in hits] == [
        point_id_of("embedded_articles", 0),
        point_id_of("embedded_posts", 0),
        point_id_of("embedded_repositories", 0),
        point_id_of("embedded_articles", 1),
    ]
    assert hits[0].payload["link"] == "https://medium.com/@paul/rag-systems"


def test_author_filter(store: QdrantStore) -> None:
    retriever = Retriever(store, list(SEED_POINTS))

    hits = asyncio.run(retriever.retrieve(QUERY_VECTOR, 10, SearchFilter(author_id=AUTHOR_PAUL)))

    assert {hit.payload["author_id"] for hit in hits} == {AUTHOR_PAUL}
    assert len(hits) == 2


def test_limit_applies_per_collection(store: QdrantStore) -> None:
    hits = store.search("embedded_articles", QUERY_VECTOR, 1, NO_FILTER)

    assert [hit.point_id for hit in hits] == [point_id_of("embedded_articles", 0)]


def test_points_without_text_are_skipped(tmp_path: Path, rag_env: dict[str, str]) -> None:
    from qdrant_client import QdrantClient, models

    path = tmp_path / "sparse"
    seeding = QdrantClient(path=str(path))
    seeding.create_collection(
        "embedded_posts",
        vectors_config=models.VectorParams(size=4, distance=models.Distance.COSINE),
    )
    seeding.upsert(
        "embedded_posts",
        points=[
            models.PointStruct(id=1, vector=[1.0, 0, 0, 0], payload={"content": "kept"}),
            models.PointStruct(id=2, vector=[1.0, 0.1, 0, 0], payload={"content": ""}),
            models.PointStruct(id=3, vector=[1.0, 0.2, 0, 0], payload={"content": 7}),
            models.PointStruct(id=4, vector=[1.0, 0.3, 0, 0], payload=None),
        ],
    )
    seeding.close()
    store = QdrantStore(load_settings().model_copy(update={"qdrant_path": str(path)}))
    try:
        hits = store.search("embedded_posts", [1.0, 0, 0, 0], 10, NO_FILTER)
    finally:
        store.close()

    assert [hit.point_id for hit in hits] == ["1"]


def test_missing_collection_is_an_upstream_failure(store: QdrantStore) -> None:
    with pytest.raises(UpstreamFailed, match="vector store failed"):
        store.search("embedded_videos", QUERY_VECTOR, 3, NO_FILTER)


def test_locked_local_store_cannot_be_opened(store: QdrantStore) -> None:
    store.search("embedded_posts", QUERY_VECTOR, 1, NO_FILTER)
    second = QdrantStore(store.settings)

    with pytest.raises(UpstreamFailed, match="could not be opened"):
        second.search("embedded_posts", QUERY_VECTOR, 1, NO_FILTER)


def test_lambda_reads_qdrant_from_its_secret(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_lambda_powertools.utilities import parameters

    fetched: list[tuple[str, Any]] = []

    def fake_get_secret(name: str, transform: Any = None, **_: Any) -> Any:
        fetched.append((name, transform))
        return {"url": "https://cluster.qdrant.example:6333", "api_key": "from-secret"}

    monkeypatch.setattr(parameters, "get_secret", fake_get_secret)
    monkeypatch.delenv("RAG_QDRANT_PATH")
    monkeypatch.setenv("RAG_QDRANT_SECRET_ID", "arn:aws:secretsmanager:eu-west-1:1:secret:qdrant")
    store = QdrantStore(load_settings())

    client = store.client
    assert store.client is client

    assert fetched == [("arn:aws:secretsmanager:eu-west-1:1:secret:qdrant", "json")]
    assert client.init_options["url"] == "https://cluster.qdrant.example:6333"
    assert client.init_options["api_key"] == "from-secret"
    store.close()


@pytest.mark.parametrize(
    "secret",
    [{"api_key": "k"}, {"url": "qdrant:6333"}, {"url": "https://q", "api_key": 5}, "plain"],
)
def test_malformed_secret_is_named_a_configuration_error(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, secret: Any
) -> None:
    from aws_lambda_powertools.utilities import parameters

    monkeypatch.setattr(parameters, "get_secret", lambda *_, **__: secret)
    monkeypatch.delenv("RAG_QDRANT_PATH")
    monkeypatch.setenv("RAG_QDRANT_SECRET_ID", "arn:aws:secretsmanager:eu-west-1:1:secret:qdrant")
    store = QdrantStore(load_settings())

    with pytest.raises(SettingsError, match="RAG_QDRANT_SECRET_ID: the secret"):
        store.search("embedded_posts", QUERY_VECTOR, 1, NO_FILTER)
    assert not store.opened


def test_author_name_filter(store: QdrantStore) -> None:
    retriever = Retriever(store, list(SEED_POINTS))

    hits = asyncio.run(
        retriever.retrieve(QUERY_VECTOR, 10, SearchFilter(author_full_name="Maxime Labonne"))
    )

    assert {hit.payload["author_full_name"] for hit in hits} == {"Maxime Labonne"}
    assert len(hits) == 2


def test_author_names_of_every_collection(store: QdrantStore) -> None:
    retriever = Retriever(store, list(SEED_POINTS))

    assert asyncio.run(retriever.author_names(100)) == ["Maxime Labonne", "Paul Iusztin"]


def test_unreachable_server_is_an_upstream_failure(
    rag_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    monkeypatch.delenv("RAG_QDRANT_PATH")
    monkeypatch.setenv("RAG_QDRANT_URL", f"http://127.0.0.1:{closed_port}")
    store = QdrantStore(load_settings())

    with pytest.raises(UpstreamFailed, match="vector store failed") as raised:
        store.search("embedded_posts", QUERY_VECTOR, 1, NO_FILTER)
    assert not isinstance(raised.value, UpstreamTimedOut)
    store.close()


def test_a_bug_in_the_search_call_surfaces_as_a_bug(
    store: QdrantStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def wrong_call(**_: Any) -> Any:
        raise TypeError("query_points() got an unexpected keyword argument")

    monkeypatch.setattr(store.client, "query_points", wrong_call)

    with pytest.raises(TypeError, match="unexpected keyword"):
        store.search("embedded_posts", QUERY_VECTOR, 1, NO_FILTER)
