"""The local batch runner against a scripted API: concurrency, retries, resume, cancel, expiry."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from local.batch_runner import POLL_S, BatchRunner, delays
from model_config.schema import Backoff
from rag_app.batch.local_store import LocalBatchStore
from rag_app.batch.models import COMPLETION_WINDOW_S, Batch
from rag_app.batch.service import BatchService, PollingRunner
from tests.unit.lambda_src.rag_app.batch.support import Clock, jsonl, request_line

WAKE = Backoff(interval_s=30, backoff_rate=1.5, max_attempts=3, max_delay_s=40)
TRANSIENT = Backoff(interval_s=2, backoff_rate=2, max_attempts=2, max_delay_s=30)
Answer = Callable[[str], httpx.Response]


class ScriptedApi:
    """Answers each chat request through `answer(custom content)`, counting calls and overlap."""

    def __init__(self, answer: Answer, on_call: Callable[[int], None] | None = None) -> None:
        self.answer = answer
        self.on_call = on_call
        self.calls: list[str] = []
        self.in_flight = 0
        self.most_in_flight = 0

    async def handle(self, request: httpx.Request) -> httpx.Response:
        content = json.loads(request.content)["messages"][0]["content"]
        self.calls.append(content)
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.001)
        self.in_flight -= 1
        if self.on_call is not None:
            self.on_call(len(self.calls))
        return self.answer(content)


def ok(content: str) -> httpx.Response:
    return httpx.Response(200, json={"object": "chat.completion", "echo": content})


class Harness:
    def __init__(self, tmp_path: Path) -> None:
        self.clock = Clock()
        self.sleeps: list[float] = []
        self.service = BatchService(
            LocalBatchStore(tmp_path), PollingRunner(), max_file_bytes=1_000_000, clock=self.clock
        )

    def submit(self, count: int) -> Batch:
        lines = [request_line(f"id-{n}", f"q{n}") for n in range(count)]
        file = self.service.create_file("in.jsonl", "batch", jsonl(*lines))
        return self.service.create_batch(file.id, None)

    def runner(self, api: ScriptedApi, concurrency: int = 3) -> BatchRunner:
        async def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        client = httpx.AsyncClient(transport=httpx.MockTransport(api.handle), base_url="http://api")
        return BatchRunner(self.service, client, concurrency, WAKE, TRANSIENT, sleep=sleep)

    def custom_ids(self, file_id: str | None) -> list[str]:
        if file_id is None:
            return []
        text = self.service.store.file_content(file_id).decode()
        return [json.loads(line)["custom_id"] for line in text.splitlines()]


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    return Harness(tmp_path)


def test_every_line_once_within_the_concurrency(harness: Harness) -> None:
    batch = harness.submit(10)
    api = ScriptedApi(
        lambda c: (
            ok(c) if c != "q3" else httpx.Response(400, json={"error": {"code": "invalid_value"}})
        )
    )

    done = asyncio.run(harness.runner(api, concurrency=3).run_batch(batch.id))

    assert done is not None
    assert done.status == "completed"
    assert sorted(api.calls) == sorted(f"q{n}" for n in range(10))
    assert api.most_in_flight == 3
    assert harness.custom_ids(done.output_file_id) == [f"id-{n}" for n in range(10) if n != 3]
    assert harness.custom_ids(done.error_file_id) == ["id-3"]
    assert (done.request_counts.completed, done.request_counts.failed) == (9, 1)


def test_a_restart_runs_only_the_lines_without_a_result(harness: Harness) -> None:
    batch = harness.submit(6)
    first = harness.runner(ScriptedApi(ok), concurrency=1)
    api = ScriptedApi(ok, on_call=lambda n: first.stopping.set() if n == 2 else None)
    first = harness.runner(api, concurrency=1)

    assert asyncio.run(first.run_batch(batch.id)) is None
    assert harness.service.store.get_batch(batch.id).status == "in_progress"
    again = ScriptedApi(ok)
    done = asyncio.run(harness.runner(again, concurrency=2).run_batch(batch.id))

    assert api.calls == ["q0", "q1"]
    assert sorted(again.calls) == ["q2", "q3", "q4", "q5"]
    assert done is not None
    assert sorted(harness.custom_ids(done.output_file_id)) == [f"id-{n}" for n in range(6)]


def test_cancel_mid_run_keeps_the_finished_lines(harness: Harness) -> None:
    batch = harness.submit(8)
    api = ScriptedApi(ok, on_call=lambda n: harness.service.cancel(batch.id) if n == 3 else None)

    done = asyncio.run(harness.runner(api, concurrency=1).run_batch(batch.id))

    assert done is not None
    assert done.status == "cancelled"
    assert harness.custom_ids(done.output_file_id) == ["id-0", "id-1", "id-2"]
    assert harness.custom_ids(done.error_file_id) == [f"id-{n}" for n in range(3, 8)]


def test_past_the_window_the_rest_expire(harness: Harness) -> None:
    batch = harness.submit(5)

    def advance(n: int) -> None:
        if n == 2:
            harness.clock.now += COMPLETION_WINDOW_S

    done = asyncio.run(
        harness.runner(ScriptedApi(ok, on_call=advance), concurrency=1).run_batch(batch.id)
    )

    assert done is not None
    assert done.status == "expired"
    assert harness.custom_ids(done.output_file_id) == ["id-0", "id-1"]
    errors = harness.service.store.file_content(done.error_file_id or "").decode().splitlines()
    assert {json.loads(line)["error"]["code"] for line in errors} == {"batch_expired"}


def test_waking_from_zero_waits_with_backoff_and_does_not_fail_the_line(harness: Harness) -> None:
    batch = harness.submit(1)
    answers = iter([503, 503, 503, 200])

    def answer(content: str) -> httpx.Response:
        status = next(answers)
        return (
            ok(content)
            if status == 200
            else httpx.Response(503, json={"error": {"code": "model_not_ready"}})
        )

    done = asyncio.run(harness.runner(ScriptedApi(answer)).run_batch(batch.id))

    assert done is not None
    assert done.request_counts.completed == 1
    assert delays(WAKE) == [30, 40, 40]
    # Waits go in steps, the batch's status checked between them.
    assert sum(harness.sleeps) == 110
    assert max(harness.sleeps) == POLL_S


def test_transient_failures_past_their_retries_fail_the_line_with_the_apps_answer(
    harness: Harness,
) -> None:
    batch = harness.submit(1)
    api = ScriptedApi(lambda c: httpx.Response(429, json={"error": {"code": "rate_limited"}}))

    done = asyncio.run(harness.runner(api).run_batch(batch.id))

    assert done is not None
    assert len(api.calls) == 1 + TRANSIENT.max_attempts
    assert sum(harness.sleeps) == 2 + 4
    [line] = harness.service.store.file_content(done.error_file_id or "").decode().splitlines()
    assert json.loads(line)["response"]["status_code"] == 429


def test_run_forever_picks_up_batches_and_survives_a_broken_one(harness: Harness) -> None:
    broken = harness.submit(1)
    harness.service.store.delete_file(broken.input_file_id)
    harness.clock.now += 1
    good = harness.submit(2)
    runner = harness.runner(ScriptedApi(ok))

    async def run_until_idle() -> None:
        task = asyncio.create_task(runner.run_forever())
        for _ in range(1000):
            if runner.next_batch() is None:
                break
            await asyncio.sleep(0.01)
        runner.stopping.set()
        await task

    asyncio.run(run_until_idle())

    assert harness.service.store.get_batch(broken.id).status == "failed"
    assert harness.service.store.get_batch(good.id).status == "completed"


def test_a_cancel_during_a_wait_for_wake_up_ends_the_wait(harness: Harness) -> None:
    batch = harness.submit(1)
    api = ScriptedApi(lambda c: httpx.Response(503, json={"error": {"code": "model_not_ready"}}))
    runner = harness.runner(api)

    async def sleep(seconds: float) -> None:
        harness.sleeps.append(seconds)
        if len(harness.sleeps) == 3:
            harness.service.cancel(batch.id)

    runner.sleep = sleep
    done = asyncio.run(runner.run_batch(batch.id))

    assert done is not None
    assert done.status == "cancelled"
    assert len(api.calls) == 1
    assert len(harness.sleeps) == 3
