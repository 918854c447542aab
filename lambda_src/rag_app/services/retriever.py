"""Vector search over the configured Qdrant collections."""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rag_app.concurrency import run_blocking
from rag_app.errors import RagError, UpstreamFailed, UpstreamTimedOut
from rag_app.settings import SettingsError

if TYPE_CHECKING:
    from qdrant_client import QdrantClient

    from rag_app.retrieval.filters import SearchFilter
    from rag_app.settings import Settings

ROLE = "vector store"


@dataclass(frozen=True)
class Chunk:
    """One retrieved point: where it came from, its score and its payload."""

    collection: str
    point_id: str
    score: float
    content: str
    payload: Mapping[str, Any]

    @property
    def dedup_key(self) -> tuple[str, ...]:
        """Same document and text means the same chunk, even across collections."""
        document_id = self.payload.get("document_id")
        if isinstance(document_id, str) and document_id:
            return ("document", document_id, self.content)
        return ("point", self.point_id)

    def rescored(self, score: float) -> Chunk:
        """This chunk with another score (e.g. from the reranker)."""
        return replace(self, score=score)


class QdrantStore:
    """The Qdrant client (server, local path or Lambda secret), opened at first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.timeout_s = max(1, math.ceil(settings.request_timeout_s / 2))
        self._client: QdrantClient | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> bool:
        """Whether the client exists yet (nothing is opened before the first search)."""
        return self._client is not None

    @property
    def client(self) -> QdrantClient:
        """The shared client; the first call pays for importing qdrant_client (~1 s)."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    try:
                        self._client = self._open()
                    except SettingsError:
                        raise
                    except Exception as err:
                        raise UpstreamFailed(
                            "The vector store could not be opened.", detail=repr(err)
                        ) from err
        return self._client

    def _open(self) -> QdrantClient:
        from qdrant_client import QdrantClient

        settings = self.settings
        if settings.qdrant_path is not None:
            return QdrantClient(path=settings.qdrant_path)
        if settings.qdrant_secret_id is not None:
            url, api_key = _read_qdrant_secret(settings.qdrant_secret_id)
        else:
            url = str(settings.qdrant_url)
            key = settings.qdrant_api_key
            api_key = key.get_secret_value() if key is not None else None
        # No version check: it would cost a round trip on every cold start.
        return QdrantClient(
            url=url, api_key=api_key, timeout=self.timeout_s, check_compatibility=False
        )

    def close(self) -> None:
        """Release the client (a local path stays locked while it is open)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def search(
        self, collection: str, vector: list[float], limit: int, search_filter: SearchFilter
    ) -> list[Chunk]:
        """The `limit` nearest points of one collection that pass the filter (blocking)."""
        client = self.client
        try:
            response = client.query_points(
                collection_name=collection,
                query=vector,
                limit=limit,
                query_filter=search_filter.to_qdrant(),
                with_payload=True,
                with_vectors=False,
            )
        except self._upstream_errors() as err:
            raise _translate_error(err, collection) from err
        return [chunk for point in response.points if (chunk := _to_chunk(collection, point))]

    def author_names(self, collection: str, limit: int) -> list[str]:
        """The author_full_name values of one collection's points (blocking).

        A Qdrant server counts facets from a payload index: create a keyword index on
        author_full_name (local mode reads the payloads).
        """
        client = self.client
        try:
            response = client.facet(collection_name=collection, key="author_full_name", limit=limit)
        except self._upstream_errors() as err:
            raise _translate_error(err, collection) from err
        return [hit.value for hit in response.hits if isinstance(hit.value, str) and hit.value]

    def _upstream_errors(self) -> tuple[type[Exception], ...]:
        """What qdrant-client raises when the store is unreachable, slow or refuses a call.

        Anything else is a bug in the app and surfaces as one. Local mode reports a
        missing collection as ValueError.
        """
        import httpx
        from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

        errors: tuple[type[Exception], ...] = (
            ResponseHandlingException,
            UnexpectedResponse,
            httpx.HTTPError,
            TimeoutError,
        )
        return (*errors, ValueError) if self.settings.qdrant_path is not None else errors


class Retriever:
    """Searches every collection at once and merges the hits."""

    def __init__(self, store: QdrantStore, collections: list[str]) -> None:
        self.store = store
        self.collections = collections

    async def retrieve(
        self, vector: list[float], limit: int, search_filter: SearchFilter
    ) -> list[Chunk]:
        """Up to `limit` hits from each collection, best first, without duplicates.

        One query vector scores every collection alike, so the hits merge by score.
        """
        per_collection = await asyncio.gather(
            *(
                run_blocking(self.store.search, collection, vector, limit, search_filter)
                for collection in self.collections
            )
        )
        return merge_hits(per_collection)

    async def author_names(self, limit: int) -> list[str]:
        """The distinct author names in every collection."""
        per_collection = await asyncio.gather(
            *(
                run_blocking(self.store.author_names, collection, limit)
                for collection in self.collections
            )
        )
        return sorted({name for names in per_collection for name in names})


def merge_hits(per_collection: Iterable[Sequence[Chunk]]) -> list[Chunk]:
    """All hits best first; of duplicates only the best-scored one stays."""
    ranked = sorted(
        (chunk for hits in per_collection for chunk in hits),
        key=lambda chunk: chunk.score,
        reverse=True,
    )
    seen: set[tuple[str, ...]] = set()
    unique = []
    for chunk in ranked:
        if chunk.dedup_key not in seen:
            seen.add(chunk.dedup_key)
            unique.append(chunk)
    return unique


def _to_chunk(collection: str, point: Any) -> Chunk | None:
    payload = point.payload or {}
    content = payload.get("content")
    # A point without text cannot inform the answer; skipping it beats failing the request.
    if not isinstance(content, str) or not content.strip() or not math.isfinite(point.score):
        return None
    return Chunk(
        collection=collection,
        point_id=str(point.id),
        score=float(point.score),
        content=content,
        payload=payload,
    )


def _translate_error(err: Exception, collection: str) -> RagError:
    import httpx
    from qdrant_client.http.exceptions import ResponseHandlingException

    source = err.source if isinstance(err, ResponseHandlingException) else err
    detail = f"{collection}: {err!r}"
    if isinstance(source, (httpx.TimeoutException, TimeoutError)):
        return UpstreamTimedOut(f"The {ROLE} did not answer in time.", detail=detail)
    return UpstreamFailed(f"The {ROLE} failed to search.", detail=detail)


def _read_qdrant_secret(secret_id: str) -> tuple[str, str | None]:
    from aws_lambda_powertools.utilities.parameters import get_secret

    secret = get_secret(secret_id, transform="json")
    url = secret.get("url") if isinstance(secret, dict) else None
    api_key = secret.get("api_key") if isinstance(secret, dict) else None
    # A malformed secret is a deployment mistake, not an outage: named as configuration.
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise SettingsError("RAG_QDRANT_SECRET_ID: the secret has no http(s) 'url' field")
    if api_key is not None and not isinstance(api_key, str):
        raise SettingsError("RAG_QDRANT_SECRET_ID: the secret's 'api_key' is not a string")
    return url, api_key
