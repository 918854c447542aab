"""Reading TEI embedding answers."""

from __future__ import annotations

from typing import Any

import pytest

from rag_app.errors import UpstreamFailed
from rag_app.services.embedder import parse_embedding


def test_first_vector_of_the_batch() -> None:
    assert parse_embedding([[0.5, -1, 0.25], [9.0]]) == [0.5, -1.0, 0.25]


@pytest.mark.parametrize(
    "answer",
    [None, {}, [], [[]], [0.1, 0.2], [[0.1, None]], [[True, 0.1]], [[float("inf")]], "[[0.1]]"],
)
def test_anything_else_is_an_upstream_failure(answer: Any) -> None:
    with pytest.raises(UpstreamFailed, match="embedding model returned an unexpected"):
        parse_embedding(answer)
