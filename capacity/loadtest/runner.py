"""Each concurrency step is one headless `locust` process; this module starts them in turn."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from capacity.loadtest.stats import Record, read_records

LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
# How long users may finish their last request after a step's run time ends.
STOP_TIMEOUT_S = 120


class LocustError(RuntimeError):
    """A Locust process failed; the message points at its log."""


@dataclass(frozen=True)
class LoadPlan:
    """What every step shares."""

    url: str
    api_key: str
    questions: tuple[str, ...]
    max_new_tokens: int | None
    chat_share: float
    model_id: str
    duration_s: int
    request_timeout_s: float
    out: Path


def run_step(plan: LoadPlan, step: int, concurrency: int) -> list[Record]:
    """`concurrency` users for `duration_s` seconds; the records of their requests."""
    prefix = plan.out / f"step{step:02d}-c{concurrency}"
    records = prefix.with_suffix(".jsonl")
    records.unlink(missing_ok=True)
    env = {
        **os.environ,
        "CAPACITY_RECORDS": str(records),
        "CAPACITY_QUESTIONS": json.dumps(plan.questions),
        "CAPACITY_MAX_NEW_TOKENS": str(plan.max_new_tokens or ""),
        "CAPACITY_CHAT_SHARE": str(plan.chat_share),
        "CAPACITY_MODEL": plan.model_id,
        "CAPACITY_TIMEOUT_S": str(plan.request_timeout_s),
        # The key travels in the environment, never on a command line others can list.
        "CAPACITY_API_KEY": plan.api_key,
    }
    command = [
        sys.executable,
        "-m",
        "locust",
        "--locustfile",
        str(LOCUSTFILE),
        "--headless",
        "--host",
        plan.url,
        "--users",
        str(concurrency),
        "--spawn-rate",
        str(concurrency),
        "--run-time",
        f"{plan.duration_s}s",
        "--stop-timeout",
        f"{STOP_TIMEOUT_S}s",
        "--csv",
        str(prefix),
        "--only-summary",
        "--loglevel",
        "WARNING",
        "--exit-code-on-error",
        "0",
    ]
    log = prefix.with_suffix(".log")
    with log.open("w", encoding="utf-8") as handle:
        completed = subprocess.run(  # noqa: S603 - our own interpreter and arguments
            command,
            env=env,
            stdout=handle,
            stderr=subprocess.STDOUT,
            timeout=plan.duration_s + STOP_TIMEOUT_S + 120,
            check=False,
        )
    if completed.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-15:])
        raise LocustError(f"locust exited with {completed.returncode} (log: {log}):\n{tail}")
    return read_records(records)
