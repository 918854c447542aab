"""The embedded, on-disk Qdrant store (qdrant-client local mode) that local mode reads."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from qdrant_client import QdrantClient, models

from local.settings import SetupError

VECTOR_SIZE = 384


def open_store(path: Path) -> QdrantClient:
    """Open the folder; only one process at a time may hold it."""
    path.mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=str(path))
    except RuntimeError as err:
        if "already accessed" in str(err):
            raise SetupError(
                f"the Qdrant store at {path} is in use by another process (a running "
                "`make local` or API?); stop it first, embedded Qdrant allows one process"
            ) from None
        raise


def ensure_collections(client: QdrantClient, names: Iterable[str]) -> None:
    """Create missing collections: one unnamed 384-dim cosine vector, as the reference uses."""
    for name in names:
        if not client.collection_exists(name):
            client.create_collection(
                name,
                vectors_config=models.VectorParams(
                    size=VECTOR_SIZE, distance=models.Distance.COSINE
                ),
            )


def count_points(path: Path, collections: Iterable[str]) -> dict[str, int]:
    """Points per collection (0 when missing), opening and closing the store."""
    if path.exists() and not path.is_dir():
        raise SetupError(f"the Qdrant store path {path} is a file, not a folder")
    if not path.is_dir():
        return dict.fromkeys(collections, 0)
    client = open_store(path)
    try:
        return {
            name: client.count(name, exact=True).count if client.collection_exists(name) else 0
            for name in collections
        }
    finally:
        client.close()
