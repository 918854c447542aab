"""The batch Lambda entry: lines through the app's own chat route, in-process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from rag_app.batch.lines import ModelWaking
from rag_app.batch.service import BatchService
from rag_app.batch.setup import batch_service_of
from rag_app.batch_handler import BatchEntry

from ...support import MODEL_ID, FakeSageMaker
from .support import jsonl, request_line


@pytest.fixture
def batch_app(
    make_app: Callable[[], FastAPI], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> FastAPI:
    monkeypatch.setenv("RAG_BATCH_PATH", str(tmp_path / "batch"))
    return make_app()


@pytest.fixture
def fake(batch_app: FastAPI) -> FakeSageMaker:
    fake = FakeSageMaker()
    fake.install(batch_app.state.pipeline.runtime)
    return fake


@pytest.fixture
def entry(batch_app: FastAPI) -> BatchEntry:
    return BatchEntry(batch_app)


def service(entry: BatchEntry) -> BatchService:
    return batch_service_of(entry.app.state)


def submit(entry: BatchEntry, *lines: dict[str, Any]) -> str:
    file = service(entry).create_file("in.jsonl", "batch", jsonl(*lines))
    return service(entry).create_batch(file.id, None).id


def line_event(batch_id: str, index: int, item: dict[str, Any]) -> dict[str, Any]:
    return {"action": "line", "batch_id": batch_id, "index": index, "item": item}


def good_line(custom_id: str) -> dict[str, Any]:
    return request_line(custom_id, model=MODEL_ID)


def test_a_line_runs_through_the_chat_route_and_is_recorded(
    entry: BatchEntry, fake: FakeSageMaker
) -> None:
    batch_id = submit(entry, good_line("a"))

    answer = entry(line_event(batch_id, 0, good_line("a")))

    assert answer == {"custom_id": "a", "status_code": 200, "recorded": True}
    result = service(entry).store.results(batch_id)["a"]
    assert result.response is not None
    body = result.response.body
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == fake.answer_text
    assert body["sources"]
    assert result.response.request_id


def test_a_bad_body_fails_that_line_with_the_routes_own_answer(
    entry: BatchEntry, fake: FakeSageMaker
) -> None:
    bad = request_line("bad", model=MODEL_ID, temperature="hot")
    batch_id = submit(entry, bad)

    entry(line_event(batch_id, 0, bad))

    result = service(entry).store.results(batch_id)["bad"]
    assert result.response is not None
    assert result.response.status_code == 400
    assert result.response.body["error"]["param"] == "temperature"
    assert fake.calls == []


def test_no_capacity_raises_for_step_functions_to_retry(
    entry: BatchEntry, fake: FakeSageMaker
) -> None:
    from botocore.exceptions import ClientError

    def refuse() -> None:
        error = {
            "Error": {"Code": "ValidationError", "Message": "Inference Component has no capacity"}
        }
        raise ClientError(error, "InvokeEndpoint")

    fake.on_generate = refuse
    batch_id = submit(entry, good_line("a"))

    with pytest.raises(ModelWaking) as raised:
        entry(line_event(batch_id, 0, good_line("a")))

    # Step Functions matches the error by the exception's class name.
    assert type(raised.value).__name__ == "ModelWaking"
    assert service(entry).store.results(batch_id) == {}


def test_a_retried_line_keeps_its_first_result(entry: BatchEntry, fake: FakeSageMaker) -> None:
    batch_id = submit(entry, good_line("a"))

    first = entry(line_event(batch_id, 0, good_line("a")))
    again = entry(line_event(batch_id, 0, good_line("a")))
    done = entry({"action": "finalize", "batch_id": batch_id})

    assert (first["recorded"], again["recorded"]) == (True, False)
    assert done == {"batch_id": batch_id, "status": "completed"}
    batch = service(entry).store.get_batch(batch_id)
    output = service(entry).store.file_content(batch.output_file_id or "").decode().splitlines()
    assert [json.loads(text)["custom_id"] for text in output] == ["a"]


def test_lines_of_a_cancelled_batch_do_not_run(entry: BatchEntry, fake: FakeSageMaker) -> None:
    batch_id = submit(entry, good_line("a"))
    service(entry).cancel(batch_id)

    answer = entry(line_event(batch_id, 0, good_line("a")))

    assert answer == {"custom_id": "a", "skipped": "cancelling"}
    assert fake.calls == []


def test_a_malformed_event_is_refused(entry: BatchEntry) -> None:
    with pytest.raises(ValidationError):
        entry({"action": "dance", "batch_id": "batch_1"})
