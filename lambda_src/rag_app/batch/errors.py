"""The Batch API's failures, answered in OpenAI's error shape by the app's error handlers."""

from __future__ import annotations

from rag_app.errors import InvalidRequest, RagError


class NotFound(RagError):
    """No file or batch has that id."""

    status = 404
    code = "not_found"

    def __init__(self, kind: str, item_id: str) -> None:
        # Both stores raise this; one wording keeps their answers identical.
        super().__init__(f"No such {kind}: {item_id}.", param=f"{kind}_id")


class InvalidBatchRequest(InvalidRequest):
    """A file or batch request the API cannot accept."""

    # OpenAI answers these with 400; InvalidRequest's 422 becomes 400 only on /v1 routes.
    status = 400


class BatchConflict(RagError):
    """The batch is in a status that does not allow the operation (e.g. cancel a finished one)."""

    status = 409
    code = "conflict"
