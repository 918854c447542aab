"""The Files and Batches routes over a local store: OpenAI's shapes, statuses and errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from rag_app.batch.limits import MAX_UPLOAD_BYTES

from ...batch.support import jsonl, request_line


@pytest.fixture
def batch_client(
    make_app: Callable[[], FastAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[TestClient]:
    monkeypatch.setenv("RAG_BATCH_PATH", str(tmp_path / "batch"))
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        yield client


def upload(client: TestClient, content: bytes, purpose: str = "batch") -> dict[str, object]:
    response = client.post(
        "/v1/files", files={"file": ("in.jsonl", content)}, data={"purpose": purpose}
    )
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def openai_error(response: object) -> dict[str, object]:
    error: dict[str, object] = response.json()["error"]  # type: ignore[attr-defined]
    assert set(error) >= {"message", "type", "param", "code"}
    return error


def test_files_lifecycle(batch_client: TestClient) -> None:
    content = jsonl(request_line("a"))
    file = upload(batch_client, content)

    assert file["object"] == "file"
    assert file["bytes"] == len(content)
    assert file["filename"] == "in.jsonl"
    assert file["purpose"] == "batch"
    assert str(file["id"]).startswith("file-")
    listed = batch_client.get("/v1/files").json()
    assert listed["object"] == "list"
    assert [f["id"] for f in listed["data"]] == [file["id"]]
    assert batch_client.get(f"/v1/files/{file['id']}").json() == file
    assert batch_client.get(f"/v1/files/{file['id']}/content").content == content
    deleted = batch_client.delete(f"/v1/files/{file['id']}")
    assert deleted.json() == {"id": file["id"], "object": "file", "deleted": True}
    missing = batch_client.get(f"/v1/files/{file['id']}")
    assert missing.status_code == 404
    assert openai_error(missing)["code"] == "not_found"


def test_upload_errors(batch_client: TestClient) -> None:
    wrong_purpose = batch_client.post(
        "/v1/files", files={"file": ("x.jsonl", b"{}")}, data={"purpose": "fine-tune"}
    )
    no_file = batch_client.post("/v1/files", data={"purpose": "batch"})
    empty = batch_client.post(
        "/v1/files", files={"file": ("x.jsonl", b"")}, data={"purpose": "batch"}
    )

    assert wrong_purpose.status_code == 400
    assert openai_error(wrong_purpose)["param"] == "purpose"
    assert no_file.status_code == 400
    assert openai_error(no_file)["param"] == "file"
    assert empty.status_code == 400


def test_an_upload_over_the_limit_is_refused_with_413(batch_client: TestClient) -> None:
    response = batch_client.post(
        "/v1/files",
        files={"file": ("big.jsonl", b"x" * MAX_UPLOAD_BYTES)},
        data={"purpose": "batch"},
    )

    assert response.status_code == 413
    error = openai_error(response)
    assert error["code"] == "payload_too_large"
    assert str(MAX_UPLOAD_BYTES) in str(error["message"])
    assert batch_client.get("/v1/files").json()["data"] == []


def test_chat_keeps_its_own_body_limit(batch_client: TestClient) -> None:
    # An upload-sized body is still too large for the chat route.
    response = batch_client.post(
        "/v1/chat/completions",
        content=b"x" * (MAX_UPLOAD_BYTES - 1),
        headers={"content-type": "application/json"},
    )

    assert response.status_code == 413


def create(client: TestClient, file_id: object, **extra: object) -> object:
    body = {
        "input_file_id": file_id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }
    return client.post("/v1/batches", json={**body, **extra})


def test_a_valid_batch_starts_in_progress(batch_client: TestClient) -> None:
    file = upload(batch_client, jsonl(request_line("a"), request_line("b")))

    response = create(batch_client, file["id"], metadata={"job": "nightly"})

    batch = response.json()  # type: ignore[attr-defined]
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert batch["object"] == "batch"
    assert batch["status"] == "in_progress"
    assert batch["input_file_id"] == file["id"]
    assert batch["endpoint"] == "/v1/chat/completions"
    assert batch["request_counts"] == {"total": 2, "completed": 0, "failed": 0}
    assert batch["metadata"] == {"job": "nightly"}
    assert batch["expires_at"] - batch["created_at"] == 24 * 3600
    assert batch_client.get(f"/v1/batches/{batch['id']}").json() == batch


def test_an_invalid_file_gives_a_failed_batch_with_openais_errors(batch_client: TestClient) -> None:
    file = upload(
        batch_client,
        jsonl(request_line("a"), request_line("a"), {**request_line("c"), "url": "/v1/x"}),
    )

    batch = create(batch_client, file["id"]).json()  # type: ignore[attr-defined]

    assert batch["status"] == "failed"
    assert batch["failed_at"] is not None
    assert batch["errors"]["object"] == "list"
    assert [(e["code"], e["line"]) for e in batch["errors"]["data"]] == [
        ("duplicate_custom_id", 2),
        ("invalid_url", 3),
    ]


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"endpoint": "/v1/embeddings"}, "endpoint"),
        ({"completion_window": "1h"}, "completion_window"),
        ({"metadata": {str(n): "v" for n in range(17)}}, "metadata"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_create_batch_request_errors(
    batch_client: TestClient, extra: dict[str, object], param: str
) -> None:
    file = upload(batch_client, jsonl(request_line("a")))

    response = create(batch_client, file["id"], **extra)

    assert response.status_code == 400  # type: ignore[attr-defined]
    assert openai_error(response)["param"] == param


def test_unknown_ids_are_404_in_openais_shape(batch_client: TestClient) -> None:
    for response in (
        create(batch_client, "file-unknown"),
        batch_client.get("/v1/batches/batch_unknown"),
        batch_client.post("/v1/batches/batch_unknown/cancel"),
        batch_client.get("/v1/files/file-x/content"),
    ):
        assert response.status_code == 404  # type: ignore[attr-defined]
        assert openai_error(response)["type"] == "invalid_request_error"


def test_list_pages_with_after_and_limit(batch_client: TestClient) -> None:
    file = upload(batch_client, jsonl(request_line("a")))
    ids = [create(batch_client, file["id"]).json()["id"] for _ in range(3)]  # type: ignore[attr-defined]

    first = batch_client.get("/v1/batches", params={"limit": 2}).json()
    rest = batch_client.get("/v1/batches", params={"limit": 2, "after": first["last_id"]}).json()

    assert first["object"] == "list"
    assert first["has_more"] is True
    assert rest["has_more"] is False
    assert {b["id"] for b in first["data"] + rest["data"]} == set(ids)
    assert batch_client.get("/v1/batches", params={"limit": 0}).status_code == 400


def test_cancel(batch_client: TestClient) -> None:
    running = create(batch_client, upload(batch_client, jsonl(request_line("a")))["id"]).json()  # type: ignore[attr-defined]
    failed = create(batch_client, upload(batch_client, b"{\n")["id"]).json()  # type: ignore[attr-defined]

    cancelling = batch_client.post(f"/v1/batches/{running['id']}/cancel")
    refused = batch_client.post(f"/v1/batches/{failed['id']}/cancel")

    assert cancelling.json()["status"] == "cancelling"
    assert refused.status_code == 409
    assert "failed" in str(openai_error(refused)["message"])


def test_without_a_batch_store_the_routes_are_not_served(client: TestClient) -> None:
    response = client.get("/v1/batches")

    assert response.status_code == 404
    assert json.loads(response.text)["error"]["code"] == "invalid_url"
