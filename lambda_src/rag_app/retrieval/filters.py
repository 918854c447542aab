"""What a search is restricted to: the caller's author_id or the author self-query found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class SearchFilter:
    """Payload conditions every hit must meet; all None means no filter."""

    author_id: str | None = None
    author_full_name: str | None = None

    @property
    def empty(self) -> bool:
        return self.author_id is None and self.author_full_name is None

    def to_qdrant(self) -> Any:
        """The qdrant-client Filter, or None when nothing is filtered."""
        if self.empty:
            return None
        from qdrant_client import models

        conditions: list[models.Condition] = [
            models.FieldCondition(key=key, match=models.MatchValue(value=value))
            for key, value in (
                ("author_id", self.author_id),
                ("author_full_name", self.author_full_name),
            )
            if value is not None
        ]
        return models.Filter(must=conditions)


NO_FILTER = SearchFilter()
