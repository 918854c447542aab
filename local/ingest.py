"""Load a folder of documents into the embedded Qdrant store.

`python -m local.ingest [--source DIR] [--model NAME] [--qdrant-path DIR]`: chunks each
document, embeds the chunks with the same model the local TEI component serves, and upserts
them with stable ids, so running it twice changes nothing.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from local.console import fail, say, step
from local.corpus import Chunk, CorpusError, Document, chunk_document, load_documents
from local.embedder import Embedder
from local.settings import SAMPLE_CORPUS, SetupError, resolve_qdrant_path
from local.store import count_points, ensure_collections, open_store
from model_config import DEFAULT_MODEL, ConfigError, load_config

BATCH = 32


def _count(items: list[Any], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def embed_chunks(embedder: Embedder, chunks: list[Chunk]) -> list[list[float]]:
    """Vectors for the chunks' content, in batches, with progress."""
    vectors: list[list[float]] = []
    for start in range(0, len(chunks), BATCH):
        batch = chunks[start : start + BATCH]
        vectors.extend(embedder.embed([chunk.content for chunk in batch]))
        say(f"  embedded {min(start + BATCH, len(chunks))}/{len(chunks)} chunks")
    return vectors


def replace_documents(
    client: QdrantClient,
    collection: str,
    documents: list[Document],
    chunks: list[Chunk],
    vectors: list[list[float]],
) -> None:
    """Drop the documents' old points, then write the new ones."""
    # A document that shrank must not leave its old tail chunks behind.
    client.delete(
        collection,
        points_selector=models.Filter(
            must=[
                models.FieldCondition(
                    key="document_id",
                    match=models.MatchAny(any=[d.document_id for d in documents]),
                )
            ]
        ),
    )
    client.upsert(
        collection,
        points=[
            models.PointStruct(id=chunk.id, vector=vector, payload=chunk.payload)
            for chunk, vector in zip(chunks, vectors, strict=True)
        ],
    )


def ingest(
    source: Path, qdrant_path: Path, collections: list[str], embedder: Embedder | None = None
) -> dict[str, int]:
    """Chunk, embed and store every document under `source`; returns chunks per collection."""
    documents, skipped = load_documents(source)
    for path in skipped:
        say(f"skipping {path.relative_to(source)}: no front matter")
    if not documents:
        raise CorpusError(f"no documents with front matter under {source}")
    by_collection: dict[str, list[Document]] = defaultdict(list)
    for document in documents:
        by_collection[document.collection].append(document)
    unknown = sorted(set(by_collection) - set(collections))
    if unknown:
        raise CorpusError(
            f"documents for {', '.join(unknown)}, which the config's retrieval.collections "
            f"({', '.join(collections)}) does not search"
        )
    if embedder is None:
        with step("Loading embedding model all-MiniLM-L6-v2"):
            embedder = Embedder()
    # Embed before opening the store: the folder stays locked for as short a time as possible.
    batches = []
    for collection, docs in sorted(by_collection.items()):
        chunks = [chunk for document in docs for chunk in chunk_document(document)]
        with step(
            f"Embedding {_count(docs, 'document')} ({_count(chunks, 'chunk')}) for {collection}"
        ):
            batches.append((collection, docs, chunks, embed_chunks(embedder, chunks)))
    client = open_store(qdrant_path)
    try:
        ensure_collections(client, collections)
        for collection, docs, chunks, vectors in batches:
            replace_documents(client, collection, docs, chunks, vectors)
    finally:
        # The API process opens the same folder next; embedded Qdrant allows one holder.
        client.close()
    return {collection: len(chunks) for collection, _, chunks, _ in batches}


def load_sample_corpus_if_empty(qdrant_path: Path, collections: list[str]) -> dict[str, int]:
    """Points per collection, after loading the sample corpus into a store that has none."""
    counts = count_points(qdrant_path, collections)
    if any(counts.values()):
        return counts
    # A first run should answer, not stop and ask for a command the user has not met yet.
    say(f"the Qdrant store at {qdrant_path} is empty: loading the sample corpus ({SAMPLE_CORPUS})")
    return ingest(SAMPLE_CORPUS, qdrant_path, collections)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.ingest", description=__doc__)
    parser.add_argument("--source", type=Path, default=SAMPLE_CORPUS, help="folder of documents")
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="model config name, or the path of a YAML config"
    )
    parser.add_argument("--qdrant-path", help="store folder (default: .local/qdrant)")
    args = parser.parse_args(argv)
    try:
        config = load_config(args.model)
        qdrant_path = resolve_qdrant_path(args.qdrant_path)
        say(f"Ingesting {args.source} into {qdrant_path}")
        stored = ingest(args.source.resolve(), qdrant_path, config.retrieval.collections)
    except (ConfigError, CorpusError, SetupError) as err:
        fail(str(err))
    say("Stored " + ", ".join(f"{count} chunks in {name}" for name, count in stored.items()))


if __name__ == "__main__":
    main()
