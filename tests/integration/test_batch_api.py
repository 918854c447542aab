"""OpenAI's Batch API on the local stack, driven by the official `openai` SDK.

The batch runner is the local stack's third process; these tests control the LLM's copies
through the local endpoint to hold lines at a wake-up, so cancel and restart land mid-batch.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from local.processes import LocalStack
from local.settings import Ports
from rag_app.batch.local_store import LocalBatchStore
from tests.integration.conftest import STACK_GROUP, Stack, free_port, openai_client
from tests.integration.test_rag_e2e import MOTH_QUESTION

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

BATCH_TIMEOUT_S = 600
ENDED = {"completed", "failed", "cancelled", "expired"}


@pytest.fixture
def sdk(stack: Stack) -> Iterator[openai.OpenAI]:
    with openai_client(stack.ports.api_url) as client:
        yield client


def line(custom_id: str, model: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": f"{MOTH_QUESTION} ({custom_id})"}],
        "max_tokens": 4,
        **overrides,
    }
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def submit(sdk: openai.OpenAI, lines: list[dict[str, Any]]) -> Any:
    content = "".join(json.dumps(item) + "\n" for item in lines).encode()
    file = sdk.files.create(file=("input.jsonl", content), purpose="batch")
    return sdk.batches.create(
        input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
    )


def wait_until(
    sdk: openai.OpenAI, batch_id: str, done: Any, timeout_s: float = BATCH_TIMEOUT_S
) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        batch = sdk.batches.retrieve(batch_id)
        if done(batch):
            return batch
        time.sleep(0.2)
    raise AssertionError(f"batch {batch_id} still {batch.status}: {batch.request_counts}")


def ended(sdk: openai.OpenAI, batch_id: str) -> Any:
    return wait_until(sdk, batch_id, lambda b: b.status in ENDED)


def file_lines(sdk: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(text) for text in sdk.files.content(file_id).text.splitlines()]


def set_llm_copies(endpoint_url: str, component: str, copies: int) -> None:
    response = httpx.post(
        f"{endpoint_url}/_local/copies", json={"component": component, "copies": copies}, timeout=10
    )
    response.raise_for_status()


def test_a_batch_with_bad_lines_answers_every_custom_id_exactly_once(
    sdk: openai.OpenAI, stack: Stack
) -> None:
    model = stack.config.llm.model_id
    good = [line(f"good-{n}", model) for n in range(20)]
    bad = [
        line("bad-temperature", model, temperature="hot"),
        line("bad-model", "no-such-model"),
    ]

    batch = ended(sdk, submit(sdk, good[:10] + bad + good[10:]).id)

    assert batch.status == "completed"
    assert batch.request_counts.total == 22
    assert (batch.request_counts.completed, batch.request_counts.failed) == (20, 2)
    assert batch.in_progress_at is not None
    assert batch.completed_at is not None
    output = file_lines(sdk, batch.output_file_id)
    errors = file_lines(sdk, batch.error_file_id)
    seen = [item["custom_id"] for item in output + errors]
    assert sorted(seen) == sorted(item["custom_id"] for item in good + bad)
    for item in output:
        body = item["response"]["body"]
        assert item["response"]["status_code"] == 200
        assert item["error"] is None
        assert item["id"].startswith("batch_req_")
        assert body["object"] == "chat.completion"
        assert body["sources"], "each answer carries its sources"
    by_id = {item["custom_id"]: item["response"] for item in errors}
    assert by_id["bad-temperature"]["status_code"] == 400
    assert by_id["bad-temperature"]["body"]["error"]["param"] == "temperature"
    assert by_id["bad-model"]["status_code"] == 404
    assert by_id["bad-model"]["body"]["error"]["code"] == "model_not_found"
    assert batch.id in [listed.id for listed in sdk.batches.list(limit=100)]


def test_a_bad_file_fails_validation_with_openais_errors(sdk: openai.OpenAI, stack: Stack) -> None:
    model = stack.config.llm.model_id
    lines = [line("a", model), line("a", model), {**line("c", model), "method": "GET"}]

    batch = submit(sdk, lines)

    assert batch.status == "failed"
    assert batch.errors is not None
    assert [(e.code, e.line) for e in batch.errors.data or []] == [
        ("duplicate_custom_id", 2),
        ("invalid_method", 3),
    ]
    with pytest.raises(openai.ConflictError):
        sdk.batches.cancel(batch.id)
    with pytest.raises(openai.NotFoundError):
        sdk.batches.retrieve("batch_doesnotexist")


def hold_at_zero_copies_once_some_lines_finish(
    sdk: openai.OpenAI, batch_id: str, local: Any
) -> None:
    """Wait for two answers, then take the LLM to zero copies: the rest wait for a wake-up."""
    wait_until(sdk, batch_id, lambda b: b.request_counts.completed >= 2)
    set_llm_copies(local.ports.endpoint_url, local.config.names.llm_component, 0)


# More lines than the default config's batch concurrency (16), so some are still queued.
MANY = 40


def test_lines_wait_for_a_wake_up_and_cancel_keeps_partial_results(
    sdk: openai.OpenAI, stack: Stack
) -> None:
    model = stack.config.llm.model_id
    lines = [line(f"c-{n}", model, max_tokens=16) for n in range(MANY)]
    batch = submit(sdk, lines)
    try:
        hold_at_zero_copies_once_some_lines_finish(sdk, batch.id, stack.local)
        # At zero copies the remaining lines wait for a copy instead of failing.
        time.sleep(3)
        waiting = sdk.batches.retrieve(batch.id)
        cancelling = sdk.batches.cancel(batch.id)
        done = ended(sdk, batch.id)
    finally:
        set_llm_copies(stack.ports.endpoint_url, stack.llm, 1)

    assert waiting.status == "in_progress"
    assert waiting.request_counts.failed == 0
    assert cancelling.status == "cancelling"
    assert done.status == "cancelled"
    assert done.cancelled_at is not None
    output = file_lines(sdk, done.output_file_id)
    errors = file_lines(sdk, done.error_file_id)
    assert len(output) >= 2
    assert errors, "lines held at zero copies were cancelled"
    assert {item["error"]["code"] for item in errors} == {"batch_cancelled"}
    assert sorted(item["custom_id"] for item in output + errors) == sorted(
        i["custom_id"] for i in lines
    )
    assert (done.request_counts.completed, done.request_counts.failed) == (len(output), len(errors))


def answered_llm_calls(local: LocalStack, custom_id: str) -> int:
    """The LLM's answered invocations for a line (its custom_id is in the question)."""
    calls = httpx.get(f"{local.ports.endpoint_url}/_local/invocations", timeout=10).json()
    return sum(
        1
        for call in calls
        if call["component"] == local.config.names.llm_component
        and call["status"] == 200
        and f"({custom_id})" in json.dumps(call["stats"].get("request", {}))
    )


def test_a_restart_mid_batch_resumes_with_nothing_lost_or_run_twice(
    stack: Stack, seeded_store: Path, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    shutil.copytree(seeded_store, store)
    batch_path = tmp_path / "batch"
    model = stack.config.llm.model_id
    lines = [line(f"r-{n}", model) for n in range(MANY)]

    def start() -> LocalStack:
        ports = Ports(endpoint=free_port(), api=free_port())
        local = LocalStack(
            stack.config, store, ports, log_path=tmp_path / "stack.log", batch_path=batch_path
        )
        local.start()
        return local

    first = start()
    try:
        with openai_client(first.ports.api_url) as sdk:
            batch = submit(sdk, lines)
            hold_at_zero_copies_once_some_lines_finish(sdk, batch.id, first)
    finally:
        first.stop()
    recorded_before = set(LocalBatchStore(batch_path).results(batch.id))
    assert 2 <= len(recorded_before) < MANY

    second = start()
    try:
        with openai_client(second.ports.api_url) as sdk:
            done = ended(sdk, batch.id)
            output = file_lines(sdk, done.output_file_id) + file_lines(sdk, done.error_file_id)
        calls = {item["custom_id"]: answered_llm_calls(second, item["custom_id"]) for item in lines}
    finally:
        second.stop()

    assert done.status == "completed"
    assert sorted(item["custom_id"] for item in output) == sorted(i["custom_id"] for i in lines)
    # The lines answered before the stop did not run again; each of the others ran once.
    assert calls == {i["custom_id"]: int(i["custom_id"] not in recorded_before) for i in lines}
