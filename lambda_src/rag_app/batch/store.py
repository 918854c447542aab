"""Where files, batches and per-line results live: on disk locally, S3 and DynamoDB on AWS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from rag_app.batch.models import Batch, FileObject, LineResult

# Returns the batch to write, or None to leave it as it is.
BatchChange = Callable[[Batch], Batch | None]


class BatchStore(Protocol):
    """Every operation the routes, the runners and the finalizer need."""

    def put_file(self, file: FileObject, content: bytes) -> None: ...

    def get_file(self, file_id: str) -> FileObject:
        """The file's description; NotFound if there is none."""
        ...

    def list_files(self) -> list[FileObject]:
        """Every file, newest first."""
        ...

    def file_content(self, file_id: str) -> bytes: ...

    def delete_file(self, file_id: str) -> None: ...

    def put_batch(self, batch: Batch) -> None: ...

    def get_batch(self, batch_id: str) -> Batch:
        """The batch with its current request counts; NotFound if there is none."""
        ...

    def list_batches(self, after: str | None, limit: int) -> tuple[list[Batch], bool]:
        """Up to `limit` batches older than `after`, newest first, and whether more follow."""
        ...

    def update_batch(self, batch_id: str, change: BatchChange) -> Batch:
        """Apply `change` to the stored batch atomically; the batch as it is afterwards."""
        ...

    def record_result(self, batch_id: str, result: LineResult) -> bool:
        """Keep the first result per custom_id; False when the line already had one."""
        ...

    def results(self, batch_id: str) -> dict[str, LineResult]:
        """Every recorded result of the batch by custom_id."""
        ...
