"""`python -m capacity.loadtest` for a few seconds against the local stack: the CSV has every
column with sane values and the chart is a PNG. Shapes only; nothing here times anything."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import httpx
import pytest

from capacity.loadtest.stats import COLUMNS
from tests.integration.conftest import STACK_GROUP, Stack, run_module

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def test_loadtest_writes_a_sane_csv_and_a_png(
    stack: Stack, api: httpx.Client, tmp_path: Path
) -> None:
    assert api.get("/health").status_code == 200
    result = run_module(
        "capacity.loadtest",
        "--url",
        stack.ports.api_url,
        "--steps",
        "1,2",
        "--duration",
        "3",
        "--max-new-tokens",
        "4",
        "--slo-p95",
        "120",
        "--out",
        str(tmp_path),
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr

    with (tmp_path / "loadtest.csv").open(newline="") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        rows = list(reader)
    chat_available = "404" not in result.stdout
    routes = {"rag", "chat", "all"} if chat_available else {"rag", "all"}
    assert {(row["route"], row["concurrency"]) for row in rows} == {
        (route, c) for route in routes for c in ("1", "2")
    }
    if not chat_available:
        assert "answered 404" in result.stdout
    for row in rows:
        requests, ok, errors = int(row["requests"]), int(row["ok"]), int(row["errors"])
        assert min(requests, ok, errors) >= 0
        assert ok + errors == requests
        assert float(row["throughput_rps"]) >= 0
        assert float(row["concurrency_per_copy"]) == float(row["concurrency"])
        p50, p95, p99 = (_number(row[k]) for k in ("p50_s", "p95_s", "p99_s"))
        if ok:
            assert p50 is not None
            assert p95 is not None
            assert p99 is not None
            assert 0 < p50 <= p95 <= p99
            assert math.isfinite(p99)
        else:
            assert p50 is None
    everything = [row for row in rows if row["route"] == "all"]
    assert sum(int(row["ok"]) for row in everything) > 0
    assert (tmp_path / "loadtest.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "Knee:" in result.stdout
