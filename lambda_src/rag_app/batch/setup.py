"""The Batch API's service for the app's settings: a local folder, or S3 + DynamoDB + Step Functions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rag_app.batch.limits import MAX_INPUT_FILE_BYTES
from rag_app.batch.service import BatchService, PollingRunner
from rag_app.settings import Settings


def build_batch_service(settings: Settings) -> BatchService:
    """The service the settings name; AWS clients are created here, not at import."""
    if settings.batch_path is not None:
        from rag_app.batch.local_store import LocalBatchStore

        return BatchService(
            LocalBatchStore(Path(settings.batch_path)),
            PollingRunner(),
            max_file_bytes=MAX_INPUT_FILE_BYTES,
        )
    from rag_app.batch.aws_store import AwsBatchStore, StepFunctionsLauncher

    if not (settings.batch_bucket and settings.batch_table and settings.batch_state_machine_arn):
        raise ValueError("the Batch API is not configured")
    return BatchService(
        AwsBatchStore(settings.batch_bucket, settings.batch_table, settings.batch_retention_days),
        StepFunctionsLauncher(settings.batch_state_machine_arn),
        max_file_bytes=MAX_INPUT_FILE_BYTES,
    )


def batch_service_of(state: Any) -> BatchService:
    """The service kept on an app's state, built at first use (AWS clients stay off init)."""
    service: BatchService | None = getattr(state, "batch_service", None)
    if service is None:
        service = build_batch_service(state.settings)
        state.batch_service = service
    return service
