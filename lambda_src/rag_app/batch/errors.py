"""The Batch API's failures, answered in OpenAI's error shape by the app's error handlers."""

from __future__ import annotations

from rag_app.errors import RagError


class NotFound(RagError):
    """No file or batch has that id."""

    status = 404
    code = "not_found"


class InvalidBatchRequest(RagError):
    """A file or batch request the API cannot accept (OpenAI answers these with 400)."""

    status = 400
    code = "invalid_request"
    openai_code = "invalid_value"


class BatchConflict(RagError):
    """The batch is in a status that does not allow the operation (e.g. cancel a finished one)."""

    status = 409
    code = "conflict"
