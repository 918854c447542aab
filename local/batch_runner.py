"""The local stand-in for the Step Functions run: executes in_progress batches from the store.

`python -m local.batch_runner --model NAME --store DIR --api-url URL`

Each line goes to the local API's own chat route, at most the config's batch concurrency at
once, retried as the state machine retries (waking from zero, throttling). Results are
recorded per custom_id as lines finish, so a batch stopped with `make local` resumes on the
next start with only its unanswered lines. A stop lets lines in flight finish first.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from local.console import say, set_prefix
from model_config import DEFAULT_MODEL, DeploymentConfig, load_config
from model_config.schema import Backoff
from rag_app.batch.lines import LineRetry, ModelWaking, run_line
from rag_app.batch.local_store import LocalBatchStore
from rag_app.batch.models import Batch, InputLine, LineResult
from rag_app.batch.service import BatchService, PollingRunner
from rag_app.batch.validation import parse_lines

POLL_S = 0.5
# Lines in flight get this long to finish after a stop; the stop's SIGKILL comes at 10 s.
DRAIN_S = 8.0
# The app answers within its own deadline; this only guards against a hung connection.
LINE_TIMEOUT_S = 600.0
Sleep = Callable[[float], Awaitable[None]]


def delays(backoff: Backoff) -> list[float]:
    """The waits before each retry, as Step Functions computes them."""
    return [
        min(backoff.interval_s * backoff.backoff_rate**n, backoff.max_delay_s)
        for n in range(backoff.max_attempts)
    ]


@dataclass
class BatchRunner:
    """Runs the store's in_progress batches, one at a time, `concurrency` lines at once."""

    service: BatchService
    client: httpx.AsyncClient
    concurrency: int
    wake_retry: Backoff
    transient_retry: Backoff
    sleep: Sleep = asyncio.sleep
    stopping: asyncio.Event = field(default_factory=asyncio.Event)

    async def run_forever(self) -> None:
        while not self.stopping.is_set():
            batch = self.next_batch()
            if batch is None:
                await self._pause(POLL_S)
                continue
            # One broken batch must not stop the others.
            try:
                await self.run_batch(batch.id)
            except Exception as err:
                say(f"{batch.id}: the run failed ({type(err).__name__}: {err})")
                self.service.fail_run(batch.id, "The batch could not be run; see the runner's log.")

    def next_batch(self) -> Batch | None:
        """The oldest batch with lines to run or files to write."""
        for batch in reversed(self.service.store.list_batches(None, limit=1_000_000)[0]):
            if batch.status in ("in_progress", "cancelling", "finalizing"):
                return batch
        return None

    async def run_batch(self, batch_id: str) -> Batch | None:
        """Run the unanswered lines, then finalize; None when a stop came first."""
        batch = self.service.store.get_batch(batch_id)
        lines = parse_lines(self.service.store.file_content(batch.input_file_id))
        answered = self.service.store.results(batch_id)
        pending = [line for line in lines if line.custom_id not in answered]
        if pending:
            say(f"{batch_id}: {len(pending)} of {len(lines)} lines to run")
        queue = iter(pending)

        async def worker() -> None:
            for line in queue:
                if not self._may_start(batch_id):
                    return
                result = await self._run_with_retries(batch_id, line)
                if result is not None:
                    self.service.store.record_result(batch_id, result)

        await asyncio.gather(*(worker() for _ in range(self.concurrency)))
        if self.stopping.is_set():
            return None
        # A batch left in `finalizing` by a stopped runner is this runner's to finish.
        done = self.service.finalize(batch_id, resume=True)
        say(f"{batch_id}: {done.status}, {done.request_counts.model_dump()}")
        return done

    def _may_start(self, batch_id: str) -> bool:
        if self.stopping.is_set():
            return False
        batch = self.service.store.get_batch(batch_id)
        return batch.status == "in_progress" and not self.service.expired(batch)

    async def _run_with_retries(self, batch_id: str, line: InputLine) -> LineResult | None:
        """The line's final result; its last answer once retries run out; None when a stop,
        a cancel or the window's end came while it waited."""
        waits = {
            "waking": iter(delays(self.wake_retry)),
            "transient": iter(delays(self.transient_retry)),
        }
        while True:
            try:
                return await run_line(self.client, line)
            except LineRetry as retry:
                kind = "waking" if isinstance(retry, ModelWaking) else "transient"
                wait = next(waits[kind], None)
                if wait is None:
                    return retry.result
                # Waking from zero takes minutes: look at the batch's status as the wait goes.
                while wait > 0:
                    if not self._may_start(batch_id) or not await self._pause(min(wait, POLL_S)):
                        return None
                    wait -= POLL_S

    async def _pause(self, seconds: float) -> bool:
        """Sleep unless a stop comes first; False when it did."""
        if self.stopping.is_set():
            return False
        sleeper = asyncio.ensure_future(self.sleep(seconds))
        stopped = asyncio.ensure_future(self.stopping.wait())
        await asyncio.wait({sleeper, stopped}, return_when=asyncio.FIRST_COMPLETED)
        sleeper.cancel()
        stopped.cancel()
        return not self.stopping.is_set()


def announce_ready(ready_file: Path) -> None:
    """The launcher waits for this file: from here on a Ctrl-C is a clean stop."""
    ready_file.parent.mkdir(parents=True, exist_ok=True)
    ready_file.touch()


async def serve(
    config: DeploymentConfig, store: Path, api_url: str, ready_file: Path | None = None
) -> None:
    """Run batches until SIGTERM or SIGINT, then let lines in flight finish (up to DRAIN_S)."""
    service = BatchService(LocalBatchStore(store), PollingRunner(), max_file_bytes=0)
    limits = httpx.Limits(max_connections=config.batch_concurrency)
    async with httpx.AsyncClient(base_url=api_url, timeout=LINE_TIMEOUT_S, limits=limits) as client:
        runner = BatchRunner(
            service,
            client,
            config.batch_concurrency,
            config.batch.wake_retry,
            config.batch.transient_retry,
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, runner.stopping.set)
        if ready_file is not None:
            announce_ready(ready_file)
        task = asyncio.create_task(runner.run_forever())
        await runner.stopping.wait()
        try:
            await asyncio.wait_for(task, DRAIN_S)
        except TimeoutError:
            # Lines cut short are not recorded: they run again on the next start.
            say("lines still in flight after the drain time were cut short")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m local.batch_runner", description=__doc__)
    parser.add_argument(
        "--model", default=DEFAULT_MODEL, help="model config name, or the path of a YAML config"
    )
    parser.add_argument("--store", type=Path, required=True, help="the Batch API's folder")
    parser.add_argument("--api-url", required=True, help="the local RAG API")
    parser.add_argument("--ready-file", type=Path, help="created once signals are handled")
    args = parser.parse_args(argv)
    set_prefix("batch")
    asyncio.run(serve(load_config(args.model), args.store, args.api_url, args.ready_file))


if __name__ == "__main__":
    main()
