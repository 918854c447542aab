"""Both stores, on disk and on S3 + DynamoDB (moto): round trips, first result wins, paging,
atomic batch updates across threads."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from rag_app.batch.aws_store import KIND_INDEX, AwsBatchStore
from rag_app.batch.errors import NotFound
from rag_app.batch.local_store import LocalBatchStore
from rag_app.batch.models import Batch, FileObject, LineError, LineResponse, LineResult
from rag_app.batch.store import BatchStore


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


BUCKET = "batch-bucket"
TABLE = "batch-table"


def create_aws_resources() -> None:
    """The bucket and the table as the batch construct declares them."""
    boto3.client("s3").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    string = "S"
    boto3.client("dynamodb").create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": name, "AttributeType": string}
            for name in ("pk", "sk", "kind", "sort")
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": KIND_INDEX,
                "KeySchema": [
                    {"AttributeName": "kind", "KeyType": "HASH"},
                    {"AttributeName": "sort", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
    )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        create_aws_resources()
        yield


@pytest.fixture(params=["local", "aws"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BatchStore:
    if request.param == "local":
        return LocalBatchStore(tmp_path / "batch")
    request.getfixturevalue("aws")
    return AwsBatchStore(BUCKET, TABLE)


def test_files_round_trip_and_delete(store: BatchStore) -> None:
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


@pytest.mark.parametrize("bad_id", ["../etc", "file-a/..", "FILE"])
def test_ids_that_are_not_ours_are_not_found(store: BatchStore, bad_id: str) -> None:
    with pytest.raises(NotFound):
        store.get_file(bad_id)
    with pytest.raises(NotFound):
        store.get_batch(bad_id)


def test_first_result_per_custom_id_wins(store: BatchStore) -> None:
    store.put_batch(a_batch("batch_1"))

    assert store.record_result("batch_1", result("x", 200)) is True
    assert store.record_result("batch_1", result("x", 500)) is False
    assert store.record_result("batch_1", result("y", 400)) is True

    results = store.results("batch_1")
    assert set(results) == {"x", "y"}
    assert results["x"].response is not None
    assert results["x"].response.status_code == 200


def test_running_batch_counts_its_recorded_results(store: BatchStore) -> None:
    store.put_batch(a_batch("batch_1"))
    store.record_result("batch_1", result("x", 200))
    store.record_result("batch_1", result("y", 400))
    store.record_result(
        "batch_1", LineResult(id="r", custom_id="z", error=LineError(code="c", message="m"))
    )

    counts = store.get_batch("batch_1").request_counts

    assert (counts.total, counts.completed, counts.failed) == (3, 1, 2)


def test_list_pages_newest_first(store: BatchStore) -> None:
    for n in range(5):
        store.put_batch(a_batch(f"batch_{n}", created_at=n, status="completed"))

    first, more = store.list_batches(None, 2)
    second, more_after_second = store.list_batches(first[-1].id, 2)
    last, more_after_last = store.list_batches(second[-1].id, 2)

    assert [b.id for b in first + second + last] == [f"batch_{n}" for n in (4, 3, 2, 1, 0)]
    assert (more, more_after_second, more_after_last) == (True, True, False)
    assert store.list_batches("batch_unknown", 2) == ([], False)


def test_concurrent_updates_are_not_lost(tmp_path: Path) -> None:
    # Local only: moto does not evaluate DynamoDB conditions atomically across threads.
    store = LocalBatchStore(tmp_path)
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


def test_an_update_that_returns_none_changes_nothing(store: BatchStore) -> None:
    store.put_batch(a_batch("batch_1"))

    assert store.update_batch("batch_1", lambda b: None).status == "in_progress"
    with pytest.raises(NotFound):
        store.update_batch("batch_2", lambda b: b)


def test_aws_store_keeps_file_bytes_in_s3_and_records_with_expiry(aws: None) -> None:
    store = AwsBatchStore(BUCKET, TABLE, retention_days=7)
    store.put_file(a_file("file-a"), b"abc")
    store.put_batch(a_batch("batch_1"))
    store.record_result("batch_1", result("x"))

    body = boto3.client("s3").get_object(Bucket=BUCKET, Key="files/file-a.jsonl")["Body"].read()
    items = boto3.client("dynamodb").scan(TableName=TABLE)["Items"]
    assert body == b"abc"
    assert len(items) == 3
    assert all(int(item["ttl"]["N"]) > 7 * 86_400 for item in items)


def test_step_functions_launcher_starts_one_execution_per_batch_and_stops_it(aws: None) -> None:
    from rag_app.batch.aws_store import StepFunctionsLauncher

    iam = boto3.client("iam")
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = boto3.client("stepfunctions").create_state_machine(
        name="batch",
        definition='{"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 60, "End": true}}}',
        roleArn=role,
    )["stateMachineArn"]
    launcher = StepFunctionsLauncher(machine)
    batch = a_batch("batch_1")

    launcher.start(batch)
    # A retried start of a running execution (same name, same input) is the same execution.
    launcher.start(batch)
    assert launcher.stop(batch) is True

    execution = boto3.client("stepfunctions").describe_execution(
        executionArn=launcher.execution_arn("batch_1")
    )
    assert execution["name"] == "batch_1"
    assert execution["status"] == "ABORTED"
    assert json.loads(execution["input"]) == {
        "batch_id": "batch_1",
        "input_key": "files/file-1.jsonl",
    }
    executions = boto3.client("stepfunctions").list_executions(stateMachineArn=machine)[
        "executions"
    ]
    assert len(executions) == 1


@pytest.mark.usefixtures("aws")
def test_an_update_that_lost_a_race_is_applied_again_to_the_winner() -> None:
    # AWS only: the local store holds a lock across the change, so no writer gets in between.
    store = AwsBatchStore(BUCKET, TABLE)
    store.put_batch(a_batch("batch_1"))
    calls = []

    def add_key(batch: Batch) -> Batch:
        calls.append(dict(batch.metadata or {}))
        if len(calls) == 1:
            # Another writer gets in between this read and this write.
            store.update_batch(
                "batch_1", lambda b: b.model_copy(update={"metadata": {"other": "1"}})
            )
        return batch.model_copy(update={"metadata": {**(batch.metadata or {}), "mine": "1"}})

    updated = store.update_batch("batch_1", add_key)

    assert updated.metadata == {"other": "1", "mine": "1"}
