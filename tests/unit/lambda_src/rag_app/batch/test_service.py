"""Batch operations: validation before launch, cancel rules, finalize to each end state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag_app.batch.errors import BatchConflict, InvalidBatchRequest, NotFound
from rag_app.batch.local_store import LocalBatchStore
from rag_app.batch.models import COMPLETION_WINDOW_S, LineResponse, LineResult
from rag_app.batch.service import BatchService

from .support import Clock, RecordingLauncher, jsonl, request_line


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def launcher() -> RecordingLauncher:
    return RecordingLauncher()


@pytest.fixture
def service(tmp_path: Path, clock: Clock, launcher: RecordingLauncher) -> BatchService:
    return BatchService(LocalBatchStore(tmp_path), launcher, max_file_bytes=100_000, clock=clock)


def upload(service: BatchService, *lines: object) -> str:
    return service.create_file("in.jsonl", "batch", jsonl(*lines)).id


def answer(custom_id: str, status: int = 200) -> LineResult:
    return LineResult(
        id="batch_req_x",
        custom_id=custom_id,
        response=LineResponse(status_code=status, request_id="r", body={}),
    )


def output_lines(service: BatchService, file_id: str | None) -> list[str]:
    if file_id is None:
        return []
    return [
        json.loads(t)["custom_id"]
        for t in service.store.file_content(file_id).decode().splitlines()
    ]


def test_a_valid_file_starts_a_batch(
    service: BatchService, launcher: RecordingLauncher, clock: Clock
) -> None:
    file_id = upload(service, request_line("a"), request_line("b"))

    batch = service.create_batch(file_id, {"run": "nightly"})

    assert launcher.started == [batch.id]
    assert batch.status == "in_progress"
    assert batch.request_counts.total == 2
    assert batch.created_at == batch.in_progress_at == int(clock.now)
    assert batch.expires_at == int(clock.now) + COMPLETION_WINDOW_S
    assert batch.metadata == {"run": "nightly"}


def test_an_invalid_file_gives_a_failed_batch_and_runs_nothing(
    service: BatchService, launcher: RecordingLauncher
) -> None:
    file_id = upload(service, request_line("a"), "{oops")

    batch = service.create_batch(file_id, None)

    assert launcher.started == []
    assert batch.status == "failed"
    assert batch.failed_at is not None
    assert batch.errors is not None
    assert [(e.code, e.line) for e in batch.errors.data] == [("invalid_json_line", 2)]
    assert service.store.get_batch(batch.id).status == "failed"


def test_file_rules(service: BatchService) -> None:
    with pytest.raises(InvalidBatchRequest) as wrong_purpose:
        service.create_file("x.jsonl", "fine-tune", b"{}")
    with pytest.raises(InvalidBatchRequest):
        service.create_file("x.jsonl", "batch", b"")
    with pytest.raises(NotFound):
        service.create_batch("file-nope", None)
    assert wrong_purpose.value.param == "purpose"


def test_finalize_completes_with_every_line_once(service: BatchService, clock: Clock) -> None:
    batch = service.create_batch(
        upload(service, request_line("a"), request_line("b"), request_line("c")), None
    )
    service.store.record_result(batch.id, answer("a"))
    service.store.record_result(batch.id, answer("b", 400))
    service.store.record_result(batch.id, answer("c"))
    clock.now += 5

    done = service.finalize(batch.id)

    assert done.status == "completed"
    assert done.completed_at == done.finalizing_at == int(clock.now)
    assert (done.request_counts.completed, done.request_counts.failed) == (2, 1)
    assert output_lines(service, done.output_file_id) == ["a", "c"]
    assert output_lines(service, done.error_file_id) == ["b"]
    assert service.store.get_file(done.output_file_id or "").purpose == "batch_output"
    # A second finalize (a retried step) changes nothing.
    assert service.finalize(batch.id) == done


def test_cancel_keeps_finished_lines(service: BatchService, launcher: RecordingLauncher) -> None:
    batch = service.create_batch(upload(service, request_line("a"), request_line("b")), None)
    service.store.record_result(batch.id, answer("a"))

    cancelling = service.cancel(batch.id)
    done = service.finalize(batch.id)

    assert cancelling.status == "cancelling"
    assert cancelling.cancelling_at is not None
    assert launcher.stopped == [batch.id]
    assert done.status == "cancelled"
    assert output_lines(service, done.output_file_id) == ["a"]
    errors = service.store.file_content(done.error_file_id or "").decode().splitlines()
    assert [json.loads(t)["error"]["code"] for t in errors] == ["batch_cancelled"]
    with pytest.raises(BatchConflict):
        service.cancel(batch.id)


def test_cancel_twice_is_harmless_and_a_failed_batch_cannot_be_cancelled(
    service: BatchService,
) -> None:
    batch = service.create_batch(upload(service, request_line("a")), None)
    failed = service.create_batch(upload(service, "{"), None)

    assert service.cancel(batch.id).status == service.cancel(batch.id).status == "cancelling"
    with pytest.raises(BatchConflict):
        service.cancel(failed.id)


def test_past_the_window_a_batch_expires_with_partial_results(
    service: BatchService, clock: Clock
) -> None:
    batch = service.create_batch(upload(service, request_line("a"), request_line("b")), None)
    service.store.record_result(batch.id, answer("a"))
    clock.now += COMPLETION_WINDOW_S

    done = service.finalize(batch.id)

    assert done.status == "expired"
    assert done.expired_at == int(clock.now)
    assert output_lines(service, done.output_file_id) == ["a"]
    errors = service.store.file_content(done.error_file_id or "").decode().splitlines()
    assert [json.loads(t)["error"]["code"] for t in errors] == ["batch_expired"]


def test_a_line_with_no_result_at_the_end_is_reported_failed(service: BatchService) -> None:
    batch = service.create_batch(upload(service, request_line("a")), None)

    done = service.finalize(batch.id)

    assert done.status == "completed"
    assert done.request_counts.failed == 1
    [line] = service.store.file_content(done.error_file_id or "").decode().splitlines()
    assert json.loads(line)["error"]["code"] == "request_failed"
