"""Query embeddings from the TEI embedding component."""

from __future__ import annotations

import math
from typing import Any

from rag_app.errors import UpstreamFailed
from rag_app.services.sagemaker_runtime import SageMakerRuntime

ROLE = "embedding model"


class Embedder:
    """Embeds text through TEI's contract: {"inputs", "normalize"} -> [[float, ...]]."""

    def __init__(self, runtime: SageMakerRuntime, component: str) -> None:
        self.runtime = runtime
        self.component = component

    async def embed(self, text: str) -> list[float]:
        """The normalized embedding of one text."""
        # truncate: TEI rejects (413) inputs over the model's token limit unless told to cut them.
        answer = await self.runtime.invoke(
            self.component, {"inputs": text, "normalize": True, "truncate": True}, role=ROLE
        )
        return parse_embedding(answer)


def parse_embedding(answer: Any) -> list[float]:
    """The first vector of a TEI answer, or UpstreamFailed if it is not one."""
    vector = answer[0] if isinstance(answer, list) and answer else None
    if (
        not isinstance(vector, list)
        or not vector
        or not all(_is_finite_number(value) for value in vector)
    ):
        raise UpstreamFailed(
            f"The {ROLE} returned an unexpected response.", detail=repr(answer)[:200]
        )
    return [float(value) for value in vector]


def _is_finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
