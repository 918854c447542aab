"""The on-disk store: round trips, first result wins, atomic batch updates across threads."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rag_app.batch.errors import NotFound
from rag_app.batch.local_store import LocalBatchStore
from rag_app.batch.models import Batch, FileObject, LineError, LineResponse, LineResult


def a_file(file_id: str, created_at: int = 1) -> FileObject:
    return FileObject(
        id=file_id, bytes=3, created_at=created_at, filename="in.jsonl", purpose="batch"
    )


def a_batch(batch_id: str, created_at: int = 1, status: str = "in_progress") -> Batch:
    return Batch.model_validate(
        {
            "id": batch_id,
            "input_file_id": "file-1",
            "status": status,
            "created_at": created_at,
            "request_counts": {"total": 3},
        }
    )


def result(custom_id: str, status: int = 200) -> LineResult:
    return LineResult(
        id="batch_req_1",
        custom_id=custom_id,
        response=LineResponse(status_code=status, request_id="r", body={"n": custom_id}),
    )


@pytest.fixture
def store(tmp_path: Path) -> LocalBatchStore:
    return LocalBatchStore(tmp_path / "batch")


def test_files_round_trip_and_delete(store: LocalBatchStore) -> None:
    store.put_file(a_file("file-a", 1), b"abc")
    store.put_file(a_file("file-b", 2), b"xyz")

    assert store.get_file("file-a").filename == "in.jsonl"
    assert store.file_content("file-b") == b"xyz"
    assert [f.id for f in store.list_files()] == ["file-b", "file-a"]
    store.delete_file("file-a")
    with pytest.raises(NotFound):
        store.get_file("file-a")
    with pytest.raises(NotFound):
        store.delete_file("file-a")


@pytest.mark.parametrize("bad_id", ["../etc", "file-a/..", "", "FILE"])
def test_ids_that_are_not_ours_are_not_found(store: LocalBatchStore, bad_id: str) -> None:
    with pytest.raises(NotFound):
        store.get_file(bad_id)
    with pytest.raises(NotFound):
        store.get_batch(bad_id)


def test_first_result_per_custom_id_wins(store: LocalBatchStore) -> None:
    store.put_batch(a_batch("batch_1"))

    assert store.record_result("batch_1", result("x", 200)) is True
    assert store.record_result("batch_1", result("x", 500)) is False
    assert store.record_result("batch_1", result("y", 400)) is True

    results = store.results("batch_1")
    assert set(results) == {"x", "y"}
    assert results["x"].response is not None
    assert results["x"].response.status_code == 200


def test_running_batch_counts_its_recorded_results(store: LocalBatchStore) -> None:
    store.put_batch(a_batch("batch_1"))
    store.record_result("batch_1", result("x", 200))
    store.record_result("batch_1", result("y", 400))
    store.record_result(
        "batch_1", LineResult(id="r", custom_id="z", error=LineError(code="c", message="m"))
    )

    counts = store.get_batch("batch_1").request_counts

    assert (counts.total, counts.completed, counts.failed) == (3, 1, 2)


def test_list_pages_newest_first(store: LocalBatchStore) -> None:
    for n in range(5):
        store.put_batch(a_batch(f"batch_{n}", created_at=n, status="completed"))

    first, more = store.list_batches(None, 2)
    second, more_after_second = store.list_batches(first[-1].id, 2)
    last, more_after_last = store.list_batches(second[-1].id, 2)

    assert [b.id for b in first + second + last] == [f"batch_{n}" for n in (4, 3, 2, 1, 0)]
    assert (more, more_after_second, more_after_last) == (True, True, False)
    assert store.list_batches("batch_unknown", 2) == ([], False)


def test_concurrent_updates_are_not_lost(store: LocalBatchStore) -> None:
    store.put_batch(a_batch("batch_1", status="validating"))

    def bump() -> None:
        for _ in range(20):
            store.update_batch(
                "batch_1",
                lambda b: b.model_copy(
                    update={"metadata": {"n": str(int((b.metadata or {}).get("n", "0")) + 1)}}
                ),
            )

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert store.get_batch("batch_1").metadata == {"n": "80"}


def test_an_update_that_returns_none_changes_nothing(store: LocalBatchStore) -> None:
    store.put_batch(a_batch("batch_1"))

    assert store.update_batch("batch_1", lambda b: None).status == "in_progress"
    with pytest.raises(NotFound):
        store.update_batch("batch_2", lambda b: b)
