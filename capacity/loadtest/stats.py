"""Per-step figures from the request records: throughput, latency percentiles, time to first
token, error codes; and the knee, the most concurrency per copy that keeps p95 in bounds."""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# A step with more failed requests than this does not count toward the knee.
MAX_ERROR_SHARE = 0.01


@dataclass(frozen=True)
class Record:
    """One request as the Locust user saw it."""

    route: str
    start: float
    latency_s: float
    status: int
    ok: bool
    ttft_s: float | None = None
    code: str = ""


@dataclass(frozen=True)
class StepStats:
    """One row of the load test CSV."""

    step: int
    concurrency: int
    copies: int
    concurrency_per_copy: float
    route: str
    duration_s: float
    requests: int
    ok: int
    errors: int
    error_codes: str
    throughput_rps: float
    mean_s: float | None
    p50_s: float | None
    p95_s: float | None
    p99_s: float | None
    ttft_p50_s: float | None
    ttft_p95_s: float | None


COLUMNS = tuple(StepStats.__dataclass_fields__)


def read_records(path: Path) -> list[Record]:
    """The JSON lines a step's Locust process wrote (none if it wrote nothing)."""
    if not path.exists():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            raw = json.loads(line)
            records.append(
                Record(
                    route=raw["route"],
                    start=float(raw["start"]),
                    latency_s=float(raw["latency_s"]),
                    status=int(raw["status"]),
                    ok=bool(raw["ok"]),
                    ttft_s=None if raw.get("ttft_s") is None else float(raw["ttft_s"]),
                    code=str(raw.get("code") or ""),
                )
            )
    return records


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _error_label(record: Record) -> str:
    if record.status == 0:
        return "connection"
    return f"{record.status}:{record.code}" if record.code else str(record.status)


def step_stats(
    records: Sequence[Record],
    *,
    step: int,
    concurrency: int,
    copies: int,
    duration_s: float,
    route: str,
) -> StepStats:
    """Figures for the requests that started within the step's window.

    Throughput counts successful requests that also finished inside the window, so requests
    left running when the step ends do not inflate it.
    """
    chosen = [r for r in records if route == "all" or r.route == route]
    window_start = min((r.start for r in records), default=0.0)
    window_end = window_start + duration_s
    inside = [r for r in chosen if r.start <= window_end]
    ok = [r for r in inside if r.ok]
    finished = [r for r in ok if r.start + r.latency_s <= window_end]
    latencies = [r.latency_s for r in ok]
    ttfts = [r.ttft_s for r in ok if r.ttft_s is not None]
    errors = Counter(_error_label(r) for r in inside if not r.ok)
    return StepStats(
        step=step,
        concurrency=concurrency,
        copies=copies,
        concurrency_per_copy=concurrency / copies,
        route=route,
        duration_s=duration_s,
        requests=len(inside),
        ok=len(ok),
        errors=len(inside) - len(ok),
        error_codes=";".join(f"{code}={count}" for code, count in sorted(errors.items())),
        throughput_rps=len(finished) / duration_s if duration_s > 0 else 0.0,
        mean_s=float(np.mean(latencies)) if latencies else None,
        p50_s=_percentile(latencies, 50),
        p95_s=_percentile(latencies, 95),
        p99_s=_percentile(latencies, 99),
        ttft_p50_s=_percentile(ttfts, 50),
        ttft_p95_s=_percentile(ttfts, 95),
    )


def knee(rows: Sequence[StepStats], p95_objective_s: float) -> StepStats | None:
    """The highest-concurrency "all" step such that it and every step below it kept p95
    within the objective with at most MAX_ERROR_SHARE of requests failing."""
    best = None
    for row in sorted((r for r in rows if r.route == "all"), key=lambda r: r.concurrency_per_copy):
        healthy = (
            row.p95_s is not None
            and row.p95_s <= p95_objective_s
            and row.errors <= MAX_ERROR_SHARE * max(row.requests, 1)
        )
        if not healthy:
            break
        best = row
    return best


def write_csv(path: Path, rows: Sequence[StepStats]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _fmt(v) for k, v in asdict(row).items()})


def _fmt(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    return value
