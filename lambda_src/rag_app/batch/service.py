"""The Batch API's operations, shared by the routes, the local runner and the AWS entry."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from rag_app.batch.errors import BatchConflict, InvalidBatchRequest
from rag_app.batch.limits import MAX_LINES
from rag_app.batch.models import (
    COMPLETION_WINDOW_S,
    Batch,
    BatchError,
    BatchErrors,
    FileObject,
    LineError,
    RequestCounts,
    new_id,
)
from rag_app.batch.results import CANCELLED, EXPIRED, build_files
from rag_app.batch.store import BatchStore
from rag_app.batch.validation import parse_lines, validate_input

# A line the run gave up on without an answer (its retries ran out, or it crashed).
NOT_ANSWERED = LineError(code="request_failed", message="The request failed after every retry.")
CANCELLABLE = frozenset({"validating", "in_progress"})


class Launcher(Protocol):
    """What starts and stops the run of a batch's lines (Step Functions, or nothing locally)."""

    def start(self, batch: Batch) -> None: ...

    def stop(self, batch: Batch) -> bool:
        """Stop the run; True when it stopped at once and the caller must finalize."""
        ...


class PollingRunner:
    """Local mode: the runner process polls the store, so starting and stopping is a status."""

    def start(self, batch: Batch) -> None:
        """The runner picks up in_progress batches by itself."""

    def stop(self, batch: Batch) -> bool:
        """The runner notices `cancelling` before each line, and finalizes the batch itself."""
        return False


@dataclass
class BatchService:
    """Files and batches over one store; `clock` is injectable so tests can pass 24 hours."""

    store: BatchStore
    launcher: Launcher
    max_file_bytes: int
    max_lines: int = MAX_LINES
    clock: Callable[[], float] = field(default=time.time)

    def now(self) -> int:
        return int(self.clock())

    def create_file(self, filename: str, purpose: str, content: bytes) -> FileObject:
        if purpose != "batch":
            raise InvalidBatchRequest("Only purpose 'batch' is accepted here.", param="purpose")
        if not content:
            raise InvalidBatchRequest("The file is empty.", param="file")
        file = FileObject(
            id=new_id("file-"),
            bytes=len(content),
            created_at=self.now(),
            filename=filename,
            purpose="batch",
        )
        self.store.put_file(file, content)
        return file

    def create_batch(self, input_file_id: str, metadata: dict[str, str] | None) -> Batch:
        """Validate the input before anything runs: a bad file gives a failed batch."""
        input_file = self.store.get_file(input_file_id)
        if input_file.purpose != "batch":
            raise InvalidBatchRequest(
                f"File {input_file_id} has purpose {input_file.purpose}, not batch.",
                param="input_file_id",
            )
        now = self.now()
        validated = validate_input(
            self.store.file_content(input_file_id), self.max_file_bytes, self.max_lines
        )
        batch = Batch(
            id=new_id("batch_"),
            input_file_id=input_file_id,
            status="validating",
            created_at=now,
            expires_at=now + COMPLETION_WINDOW_S,
            metadata=metadata,
            request_counts=RequestCounts(total=len(validated.lines)),
        )
        if validated.errors:
            batch = batch.model_copy(
                update={
                    "status": "failed",
                    "failed_at": now,
                    "errors": BatchErrors(data=validated.errors),
                }
            )
            self.store.put_batch(batch)
            return batch
        self.store.put_batch(batch)
        self.launcher.start(batch)
        return self.store.update_batch(
            batch.id,
            lambda b: b.model_copy(update={"status": "in_progress", "in_progress_at": self.now()}),
        )

    def cancel(self, batch_id: str) -> Batch:
        """Stop the run; the lines already answered stay in the output file."""

        def to_cancelling(batch: Batch) -> Batch | None:
            if batch.status == "cancelling":
                return None
            if batch.status not in CANCELLABLE:
                raise BatchConflict(
                    f"Cannot cancel a batch with status {batch.status}.", param="batch_id"
                )
            return batch.model_copy(update={"status": "cancelling", "cancelling_at": self.now()})

        batch = self.store.update_batch(batch_id, to_cancelling)
        if self.launcher.stop(batch):
            return self.finalize(batch_id)
        return batch

    def fail_run(self, batch_id: str, message: str) -> Batch:
        """End a batch whose run cannot go on (e.g. its input file was deleted)."""
        error = BatchErrors(data=[BatchError(code="run_failed", message=message)])
        return self.store.update_batch(
            batch_id,
            lambda b: b.model_copy(
                update={"status": "failed", "failed_at": self.now(), "errors": error}
            ),
        )

    def expired(self, batch: Batch) -> bool:
        return batch.expires_at is not None and self.now() >= batch.expires_at

    def finalize(self, batch_id: str, *, resume: bool = False) -> Batch:
        """Write the output and error files and end the batch: completed, cancelled or expired.

        Only the caller that moves the batch to `finalizing` writes them; others get it as is.
        `resume`: also take over a batch left in `finalizing` by a run that stopped midway.
        """
        ending: list[tuple[str, LineError]] = []

        def to_finalizing(batch: Batch) -> Batch | None:
            if batch.status not in ("in_progress", "cancelling", "finalizing"):
                return None
            if batch.status == "finalizing" and not resume:
                return None
            if batch.cancelling_at is not None:
                ending.append(("cancelled", CANCELLED))
            elif self.expired(batch):
                ending.append(("expired", EXPIRED))
            else:
                ending.append(("completed", NOT_ANSWERED))
            finalizing_at = batch.finalizing_at or self.now()
            return batch.model_copy(update={"status": "finalizing", "finalizing_at": finalizing_at})

        batch = self.store.update_batch(batch_id, to_finalizing)
        if not ending:
            return batch
        end, reason = ending[0]
        lines = parse_lines(self.store.file_content(batch.input_file_id))
        results = self.store.results(batch_id)
        if end == "expired" and all(line.custom_id in results for line in lines):
            # Every line made it in time after all.
            end = "completed"
        files = build_files(lines, results, reason)
        output_id = self._result_file(batch_id, "output", files.output)
        error_id = self._result_file(batch_id, "errors", files.errors)
        counts = RequestCounts(total=len(lines), completed=files.completed, failed=files.failed)
        return self.store.update_batch(
            batch_id,
            lambda b: b.model_copy(
                update={
                    "status": end,
                    f"{end}_at": self.now(),
                    "output_file_id": output_id,
                    "error_file_id": error_id,
                    "request_counts": counts,
                }
            ),
        )

    def _result_file(self, batch_id: str, kind: str, content: bytes) -> str | None:
        if not content:
            return None
        file = FileObject(
            id=new_id("file-"),
            bytes=len(content),
            created_at=self.now(),
            filename=f"{batch_id}_{kind}.jsonl",
            purpose="batch_output",
        )
        self.store.put_file(file, content)
        return file.id
