"""`python -m evaluation --retrieval-only` on the evaluation corpus in local mode: the command
users run, its outputs, and floors under retrieval quality.

Retrieval is deterministic here (same embedder, same store, no expansion or self-query, so no
LLM output is involved): the floors sit a margin below the values measured when they were set
(README, "Evaluating quality"), so only a real regression crosses them.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import STACK_GROUP, run_module

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(STACK_GROUP)]

PINNED = "query_expansion=1,self_query=off,fusion=rrf"
# Measured 0.975 / 0.834 at the shipped k=5 (0.889 / 0.807 at the former k=3) on 2026-12-05;
# a margin of about 0.05.
FLOORS = {"hit_rate@k": 0.92, "mrr": 0.78}


def test_retrieval_only_scores_the_set_above_its_floors(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_module(
        "evaluation",
        "--retrieval-only",
        "--quiet",
        "--variant", PINNED,
        "--store", str(tmp_path / "store"),
        "--out", str(out),
        timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "0 failed requests" in result.stdout
    saved = json.loads((out / "results.json").read_text())
    assert saved["retrieval_only"] is True
    assert {o["answer"] for o in saved["outcomes"]} == {None}
    for metric, floor in FLOORS.items():
        mean = saved["metrics"][metric][PINNED]["value"]["mean"]
        assert mean >= floor, f"{metric} {mean:.3f} fell below its floor {floor}"
    assert re.search(r"^\| mrr \| \d+ \| \d\.\d{3} \[", (out / "results.md").read_text(), re.M)
    assert (out / "results.png").stat().st_size > 0
    # The command stopped what it started: no process runs on its folder any more.
    processes = subprocess.run(
        ["ps", "-eo", "args", "-ww"], capture_output=True, text=True, check=True
    )
    assert str(out) not in processes.stdout
    assert not (out / "qdrant").exists()
