"""Query embeddings from the TEI embedding component."""

from __future__ import annotations

import math
from typing import Any

from rag_app.errors import UpstreamFailed
from rag_app.services.sagemaker_runtime import SageMakerRuntime

ROLE = "embedding model"
# TEI's default --max-client-batch-size: a larger batch is refused (413).
MAX_BATCH = 32


class Embedder:
    """Embeds texts through TEI's contract: {"inputs", "normalize"} -> [[float, ...], ...]."""

    def __init__(self, runtime: SageMakerRuntime, component: str) -> None:
        self.runtime = runtime
        self.component = component

    async def embed(self, text: str) -> list[float]:
        """The normalized embedding of one text."""
        return (await self.embed_many([text]))[0]

    async def embed_many(self, texts: list[str]) -> list[list[float]]:
        """The normalized embeddings of up to MAX_BATCH texts, in order, from one call."""
        if not 1 <= len(texts) <= MAX_BATCH:
            raise ValueError(f"embed 1 to {MAX_BATCH} texts per call, not {len(texts)}")
        # One text goes as a string, the form TEI has always been sent. truncate: TEI rejects
        # (413) inputs over the model's token limit unless told to cut them.
        inputs: str | list[str] = texts[0] if len(texts) == 1 else texts
        answer = await self.runtime.invoke(
            self.component, {"inputs": inputs, "normalize": True, "truncate": True}, role=ROLE
        )
        return parse_embeddings(answer, len(texts))


def parse_embeddings(answer: Any, count: int) -> list[list[float]]:
    """`count` vectors from a TEI answer, or UpstreamFailed if it is not that."""
    if not isinstance(answer, list) or len(answer) != count:
        raise _unexpected(answer)
    return [_vector(item, answer) for item in answer]


def parse_embedding(answer: Any) -> list[float]:
    """The first vector of a TEI answer, or UpstreamFailed if it is not one."""
    if not isinstance(answer, list) or not answer:
        raise _unexpected(answer)
    return _vector(answer[0], answer)


def _vector(item: Any, answer: Any) -> list[float]:
    if not isinstance(item, list) or not item or not all(_is_finite_number(v) for v in item):
        raise _unexpected(answer)
    return [float(value) for value in item]


def _unexpected(answer: Any) -> UpstreamFailed:
    return UpstreamFailed(f"The {ROLE} returned an unexpected response.", detail=repr(answer)[:200])


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
