"""The store on AWS: file bytes in S3, file, batch and line records in one DynamoDB table.

Table keys: `pk` ("file#<id>" or "batch#<id>") and `sk` ("meta", or "line#<custom_id>" for a
line's result); the `by_kind` index (`kind`, `sort`) lists files and batches newest first.
Items carry `ttl` so DynamoDB drops them when S3's lifecycle drops the files.
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3  # type: ignore[import-untyped]
from botocore.config import Config  # type: ignore[import-untyped]
from botocore.exceptions import ClientError  # type: ignore[import-untyped]

from rag_app.batch.errors import NotFound
from rag_app.batch.models import Batch, FileObject, LineResult, RequestCounts
from rag_app.batch.store import BatchChange

KIND_INDEX = "by_kind"
META = "meta"
LINE_PREFIX = "line#"
RUNNING_STATUSES = frozenset({"in_progress", "cancelling", "finalizing"})
# Optimistic updates retry when another writer got in between.
MAX_UPDATE_ATTEMPTS = 10
# Standard mode retries throttling with backoff, the AWS SDKs' recommended default.
CLIENT_CONFIG = Config(retries={"mode": "standard", "max_attempts": 5})
DAY_S = 86_400


class AwsBatchStore:
    """A BatchStore over an S3 bucket and a DynamoDB table."""

    def __init__(
        self,
        bucket: str,
        table: str,
        retention_days: int = 30,
        s3: Any = None,
        dynamodb: Any = None,
    ) -> None:
        self.bucket = bucket
        self.table = table
        self.retention_s = retention_days * DAY_S
        self.s3 = s3 or boto3.client("s3", config=CLIENT_CONFIG)
        self.dynamodb = dynamodb or boto3.client("dynamodb", config=CLIENT_CONFIG)

    def put_file(self, file: FileObject, content: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=file_key(file.id), Body=content)
        self._put_meta(f"file#{file.id}", "file", file.created_at, file.id, file.model_dump_json())

    def get_file(self, file_id: str) -> FileObject:
        item = self._get(f"file#{file_id}", META)
        if item is None:
            raise NotFound("file", file_id)
        return FileObject.model_validate_json(item["doc"]["S"])

    def list_files(self) -> list[FileObject]:
        items, _ = self._by_kind("file", None, limit=None)
        return [FileObject.model_validate_json(item["doc"]["S"]) for item in items]

    def file_content(self, file_id: str) -> bytes:
        self.get_file(file_id)
        body: bytes = self.s3.get_object(Bucket=self.bucket, Key=file_key(file_id))["Body"].read()
        return body

    def delete_file(self, file_id: str) -> None:
        self.get_file(file_id)
        self.dynamodb.delete_item(TableName=self.table, Key=_key(f"file#{file_id}", META))
        self.s3.delete_object(Bucket=self.bucket, Key=file_key(file_id))

    def put_batch(self, batch: Batch) -> None:
        self._put_meta(
            f"batch#{batch.id}", "batch", batch.created_at, batch.id, batch.model_dump_json()
        )

    def get_batch(self, batch_id: str) -> Batch:
        item = self._get(f"batch#{batch_id}", META)
        if item is None:
            raise NotFound("batch", batch_id)
        return _batch_of(item)

    def list_batches(self, after: str | None, limit: int) -> tuple[list[Batch], bool]:
        start = None
        if after is not None:
            item = self._get(f"batch#{after}", META)
            if item is None:
                return [], False
            start = item["sort"]["S"]
        items, more = self._by_kind("batch", start, limit)
        return [_batch_of(item) for item in items], more

    def update_batch(self, batch_id: str, change: BatchChange) -> Batch:
        for _ in range(MAX_UPDATE_ATTEMPTS):
            item = self._get(f"batch#{batch_id}", META)
            if item is None:
                raise NotFound("batch", batch_id)
            changed = change(Batch.model_validate_json(item["doc"]["S"]))
            if changed is None:
                return _batch_of(item)
            version = int(item["version"]["N"])
            try:
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key=_key(f"batch#{batch_id}", META),
                    UpdateExpression="SET doc = :doc, version = :next",
                    ConditionExpression="version = :seen",
                    ExpressionAttributeValues={
                        ":doc": {"S": changed.model_dump_json()},
                        ":next": {"N": str(version + 1)},
                        ":seen": {"N": str(version)},
                    },
                )
            except ClientError as err:
                if _code(err) != "ConditionalCheckFailedException":
                    raise
                continue
            return self.get_batch(batch_id)
        raise RuntimeError(f"batch {batch_id} kept changing under {MAX_UPDATE_ATTEMPTS} updates")

    def record_result(self, batch_id: str, result: LineResult) -> bool:
        try:
            self.dynamodb.put_item(
                TableName=self.table,
                Item={
                    **_key(f"batch#{batch_id}", LINE_PREFIX + result.custom_id),
                    "doc": {"S": result.model_dump_json()},
                    "ttl": {"N": str(self._ttl())},
                },
                ConditionExpression="attribute_not_exists(pk)",
            )
        except ClientError as err:
            if _code(err) == "ConditionalCheckFailedException":
                return False  # a retried line: its first result stands
            raise
        # Counters for progress only; finalize counts the results themselves.
        counter = "completed" if result.succeeded else "failed"
        self.dynamodb.update_item(
            TableName=self.table,
            Key=_key(f"batch#{batch_id}", META),
            UpdateExpression="ADD #counter :one",
            ExpressionAttributeNames={"#counter": counter},
            ExpressionAttributeValues={":one": {"N": "1"}},
        )
        return True

    def results(self, batch_id: str) -> dict[str, LineResult]:
        found: dict[str, LineResult] = {}
        paginator = self.dynamodb.get_paginator("query")
        pages = paginator.paginate(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :line)",
            ExpressionAttributeValues={
                ":pk": {"S": f"batch#{batch_id}"},
                ":line": {"S": LINE_PREFIX},
            },
            ConsistentRead=True,
        )
        for page in pages:
            for item in page["Items"]:
                result = LineResult.model_validate_json(item["doc"]["S"])
                found[result.custom_id] = result
        return found

    def _ttl(self) -> int:
        return int(time.time()) + self.retention_s

    def _put_meta(self, pk: str, kind: str, created_at: int, item_id: str, doc: str) -> None:
        self.dynamodb.put_item(
            TableName=self.table,
            Item={
                **_key(pk, META),
                "kind": {"S": kind},
                # Newest first by time, then id: a stable order for paging.
                "sort": {"S": f"{created_at:012d}#{item_id}"},
                "doc": {"S": doc},
                "version": {"N": "0"},
                "ttl": {"N": str(self._ttl())},
            },
        )

    def _get(self, pk: str, sk: str) -> dict[str, Any] | None:
        response = self.dynamodb.get_item(
            TableName=self.table, Key=_key(pk, sk), ConsistentRead=True
        )
        item: dict[str, Any] | None = response.get("Item")
        return item

    def _by_kind(
        self, kind: str, before: str | None, limit: int | None
    ) -> tuple[list[dict[str, Any]], bool]:
        condition = "kind = :kind" + (" AND #sort < :before" if before else "")
        values: dict[str, Any] = {":kind": {"S": kind}}
        names = {"#sort": "sort"} if before else None
        if before:
            values[":before"] = {"S": before}
        query: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": KIND_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "ScanIndexForward": False,
        }
        if names:
            query["ExpressionAttributeNames"] = names
        items: list[dict[str, Any]] = []
        while True:
            page = self.dynamodb.query(**query)
            items += page["Items"]
            if "LastEvaluatedKey" not in page or (limit is not None and len(items) > limit):
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if limit is None:
            return items, False
        return items[:limit], len(items) > limit


class StepFunctionsLauncher:
    """Starts one Standard execution per batch, named after it, and stops it on cancel."""

    def __init__(self, state_machine_arn: str, client: Any = None) -> None:
        self.state_machine_arn = state_machine_arn
        self.client = client or boto3.client("stepfunctions", config=CLIENT_CONFIG)

    def start(self, batch: Batch) -> None:
        self.client.start_execution(
            stateMachineArn=self.state_machine_arn,
            # The batch id as the name: a retried start cannot run the batch twice.
            name=batch.id,
            input=json.dumps({"batch_id": batch.id, "input_key": file_key(batch.input_file_id)}),
        )

    def stop(self, batch: Batch) -> bool:
        """Stop the execution; its lines in flight end and the caller finalizes at once."""
        self.client.stop_execution(executionArn=self.execution_arn(batch.id), cause="cancelled")
        return True

    def execution_arn(self, batch_id: str) -> str:
        # arn:aws:states:<region>:<account>:stateMachine:<name> -> ...:execution:<name>:<id>
        return self.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + f":{batch_id}"


def file_key(file_id: str) -> str:
    return f"files/{file_id}.jsonl"


def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _batch_of(item: dict[str, Any]) -> Batch:
    batch = Batch.model_validate_json(item["doc"]["S"])
    if batch.status not in RUNNING_STATUSES:
        return batch
    counts = RequestCounts(
        total=batch.request_counts.total,
        completed=int(item.get("completed", {}).get("N", "0")),
        failed=int(item.get("failed", {}).get("N", "0")),
    )
    return batch.model_copy(update={"request_counts": counts})
