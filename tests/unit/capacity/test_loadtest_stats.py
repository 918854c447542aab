"""The load test's arithmetic on hand-made request records: no Locust, no server."""

from __future__ import annotations

import csv
from dataclasses import replace
from pathlib import Path

import pytest

from capacity.loadtest.probe import base_url
from capacity.loadtest.stats import (
    COLUMNS,
    Record,
    StepStats,
    knee,
    read_records,
    step_stats,
    write_csv,
)


def rag(start: float, latency: float, status: int = 200, code: str = "") -> Record:
    return Record("rag", start, latency, status, status == 200, None, code)


def chat(start: float, latency: float, ttft: float) -> Record:
    return Record("chat", start, latency, 200, True, ttft, "")


RECORDS = [
    rag(100.0, 2.0),
    rag(101.0, 4.0),
    rag(103.0, 3.0),
    rag(104.0, 1.0, status=503, code="model_not_ready"),
    chat(100.5, 5.0, ttft=0.5),
    chat(106.0, 6.0, ttft=1.5),  # finishes at 112, after the 10 s window
    rag(111.0, 1.0),  # starts after the window: not counted
]


def test_step_figures_for_one_route_and_all() -> None:
    """Window: first start 100.0 + 10 s. rag inside: 4 requests (3 ok: 2, 4, 3 s; one 503).
    All finished by 110: throughput 3 / 10 s. all: 6 requests, 5 ok, 4 finished in time."""
    rag_row = step_stats(RECORDS, step=1, concurrency=2, copies=1, duration_s=10, route="rag")
    assert (rag_row.requests, rag_row.ok, rag_row.errors) == (4, 3, 1)
    assert rag_row.error_codes == "503:model_not_ready=1"
    assert rag_row.mean_s == pytest.approx(3.0)
    assert rag_row.p50_s == pytest.approx(3.0)
    assert rag_row.throughput_rps == pytest.approx(0.3)
    assert rag_row.ttft_p50_s is None

    everything = step_stats(RECORDS, step=1, concurrency=2, copies=2, duration_s=10, route="all")
    assert (everything.requests, everything.ok) == (6, 5)
    assert everything.throughput_rps == pytest.approx(0.4)
    assert everything.concurrency_per_copy == 1.0
    assert everything.ttft_p50_s == pytest.approx(1.0)
    assert everything.p50_s is not None
    assert everything.p95_s is not None
    assert everything.p99_s is not None
    assert everything.p50_s <= everything.p95_s <= everything.p99_s <= 6.0


def test_a_step_with_only_errors_has_no_latency() -> None:
    row = step_stats(
        [rag(0.0, 0.1, status=0)], step=1, concurrency=1, copies=1, duration_s=5, route="all"
    )
    assert (row.ok, row.errors, row.error_codes) == (0, 1, "connection=1")
    assert row.p95_s is None
    assert row.throughput_rps == 0


def _step(concurrency: int, p95: float | None, errors: int = 0, route: str = "all") -> StepStats:
    """A step of 100 requests with this p95 and error count."""
    row = step_stats([], step=1, concurrency=concurrency, copies=1, duration_s=1, route=route)
    return replace(row, p95_s=p95, requests=100, errors=errors)


def test_knee_is_the_last_healthy_step_before_the_first_unhealthy_one() -> None:
    rows = [_step(1, 2.0), _step(2, 3.0), _step(4, 5.5), _step(8, 4.0), _step(4, 1.0, route="rag")]
    best = knee(rows, p95_objective_s=5.0)
    assert best is not None
    assert best.concurrency == 2  # 4 broke the objective; 8 recovering does not count

    assert knee([_step(1, 2.0, errors=2)], p95_objective_s=5.0) is None  # 2 % errors
    assert knee([_step(1, 9.0)], p95_objective_s=5.0) is None


def test_csv_round_trip_keeps_every_column(tmp_path: Path) -> None:
    records = tmp_path / "step.jsonl"
    records.write_text(
        '{"route": "rag", "start": 1.0, "latency_s": 2.0, "status": 200, "ok": true, "code": ""}\n'
        '{"route": "chat", "start": 1.5, "latency_s": 3.0, "status": 200, "ok": true, '
        '"ttft_s": 0.4, "code": ""}\n'
    )
    loaded = read_records(records)
    assert [r.route for r in loaded] == ["rag", "chat"]
    assert loaded[1].ttft_s == 0.4
    assert read_records(tmp_path / "missing.jsonl") == []

    path = tmp_path / "loadtest.csv"
    write_csv(
        path, [step_stats(loaded, step=1, concurrency=2, copies=1, duration_s=5, route="all")]
    )
    with path.open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        (row,) = list(reader)
    assert row["ok"] == "2"
    assert row["ttft_p50_s"] == "0.4000"


@pytest.mark.parametrize(
    ("url", "root"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        (
            "https://abc.execute-api.eu-west-1.amazonaws.com/api/rag",
            "https://abc.execute-api.eu-west-1.amazonaws.com/api",
        ),
    ],
)
def test_the_rag_api_url_output_maps_to_the_api_root(url: str, root: str) -> None:
    assert base_url(url) == root
