"""OpenAI's file and batch objects, and the record of one finished line."""

from __future__ import annotations

import secrets
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

BATCH_ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"
COMPLETION_WINDOW_S = 24 * 3600

BatchStatus = Literal[
    "validating",
    "failed",
    "in_progress",
    "finalizing",
    "completed",
    "expired",
    "cancelling",
    "cancelled",
]
# A batch in one of these still has lines to run or files to write.
ACTIVE_STATUSES: frozenset[str] = frozenset(
    {"validating", "in_progress", "finalizing", "cancelling"}
)
FilePurpose = Literal["batch", "batch_output"]


def new_id(prefix: str) -> str:
    """An id in OpenAI's style, e.g. `batch_3f9c...`; random, so it reveals no count."""
    return f"{prefix}{secrets.token_hex(12)}"


class FileObject(BaseModel):
    """An uploaded or produced file, as OpenAI describes it."""

    id: str
    object: Literal["file"] = "file"
    bytes: int
    created_at: int
    filename: str
    purpose: FilePurpose
    status: Literal["processed"] = "processed"
    expires_at: int | None = None


class BatchError(BaseModel):
    """Why a batch failed validation; `line` is 1-based."""

    code: str
    message: str
    param: str | None = None
    line: int | None = None


class BatchErrors(BaseModel):
    object: Literal["list"] = "list"
    data: list[BatchError]


class RequestCounts(BaseModel):
    total: int = 0
    completed: int = 0
    failed: int = 0


class Batch(BaseModel):
    """OpenAI's batch object."""

    id: str
    object: Literal["batch"] = "batch"
    endpoint: str = BATCH_ENDPOINT
    errors: BatchErrors | None = None
    input_file_id: str
    completion_window: str = COMPLETION_WINDOW
    status: BatchStatus
    output_file_id: str | None = None
    error_file_id: str | None = None
    created_at: int
    in_progress_at: int | None = None
    expires_at: int | None = None
    finalizing_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    expired_at: int | None = None
    cancelling_at: int | None = None
    cancelled_at: int | None = None
    request_counts: RequestCounts = Field(default_factory=RequestCounts)
    metadata: dict[str, str] | None = None


class InputLine(BaseModel):
    """One validated request of an input file; `line` is its 1-based line number."""

    model_config = ConfigDict(frozen=True)

    line: int
    custom_id: str
    method: str
    url: str
    body: dict[str, Any]


class LineError(BaseModel):
    code: str
    message: str


class LineResponse(BaseModel):
    status_code: int
    request_id: str
    body: Any


class LineResult(BaseModel):
    """One output or error file line: an answer from the app (any status), or an error."""

    id: str
    custom_id: str
    response: LineResponse | None = None
    error: LineError | None = None

    @property
    def succeeded(self) -> bool:
        return self.response is not None and self.response.status_code == 200
