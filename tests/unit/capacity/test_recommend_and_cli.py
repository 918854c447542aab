"""The recommendation search, and `python -m capacity.simulate` end to end on a shipped config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from capacity import simulate
from capacity.paths import PROFILES_DIR
from capacity.simulator.recommend import Objective, recommend
from capacity.simulator.service import ServiceCurve
from capacity.simulator.traffic import from_rates
from tests.unit.capacity.support import deployment, flat_curve, settings, timing


def test_a_cheaper_setting_that_meets_the_objective_wins() -> None:
    """0.2 req/s x 5 s = 1 request in flight: one copy serves it in 5 s as well as two do, so
    the recommendation drops the second always-on copy (half the cost)."""
    current = settings(min_copies=2, scale_out_cooldown_s=60)
    recommendation = recommend(
        deployment(min_instances=1),
        current,
        flat_curve(),
        from_rates("calm", np.full(3600, 0.2)),
        timing(),
        Objective(p95_s=10),
        scale_to_zero=False,
    )

    assert recommendation.meets_objective
    assert recommendation.settings.min_copies == 1
    assert recommendation.summary.cost_per_day_usd == pytest.approx(86.4)
    assert recommendation.summary.p95_s == pytest.approx(5.0)
    # Nothing else mattered here, so nothing else changed.
    assert recommendation.settings.target == current.target
    assert recommendation.tried > 1


def test_an_objective_no_setting_can_meet_is_reported_as_missed() -> None:
    """One request alone takes 5 s: a 3 s p95 objective is out of reach of any scaling."""
    recommendation = recommend(
        deployment(),
        settings(),
        flat_curve(),
        from_rates("calm", np.full(1800, 0.2)),
        timing(),
        Objective(p95_s=3),
        scale_to_zero=False,
    )
    assert not recommendation.meets_objective


def test_load_beyond_one_copy_needs_a_second_ready_one() -> None:
    """A copy serves at most 4 at once in 4 s (1 req/s); 1.5 req/s needs two copies. With
    copies starting in 600 s, only a minimum of 2 keeps the queue (and the p95) short."""
    curve = ServiceCurve.parse("1:4,4:4")
    recommendation = recommend(
        deployment(),
        settings(max_copies=3),
        curve,
        from_rates("steady", np.full(1800, 1.5)),
        timing(),
        Objective(p95_s=6),
        scale_to_zero=False,
    )
    assert recommendation.meets_objective
    assert recommendation.settings.min_copies == 2


def test_cli_compares_candidates_and_prints_a_recommendation(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = simulate.main(
        [
            "--model",
            "smollm2-1.7b",
            "--profile",
            "burst",
            "--candidate",
            "target=8",
            "--out",
            str(tmp_path),
        ]
    )

    printed = capsys.readouterr().out
    assert code == 0
    assert "Recommended: target" in printed
    assert "llm:\n  scaling:\n    min_copies: 0" in printed  # scale to zero keeps its minimum
    assert "candidate-1" in printed
    for name in ("summary.csv", "simulation.png", "recommendation.yaml", "timeline-current.csv"):
        assert (tmp_path / name).is_file()
    assert (tmp_path / "simulation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    header = (tmp_path / "summary.csv").read_text().splitlines()[0]
    assert header.startswith("name,target,min,max,out_s,in_s,cost_per_day_usd")


def test_cli_errors_are_one_line_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert simulate.main(["--model", "nope", "--out", str(tmp_path)]) == 2
    assert "unknown model config 'nope'" in capsys.readouterr().err
    assert simulate.main(["--profile", "weekly", "--out", str(tmp_path)]) == 2
    assert "neither a built-in" in capsys.readouterr().err
    assert simulate.main(["--service", "fast", "--out", str(tmp_path)]) == 2
    assert "concurrency:seconds" in capsys.readouterr().err


def test_cli_replays_recorded_timestamps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The shipped example: 1,039 requests over 90 minutes, compared without a search."""
    profile = PROFILES_DIR / "example-requests.csv"
    code = simulate.main(["--profile", str(profile), "--no-recommend", "--out", str(tmp_path)])

    printed = capsys.readouterr().out
    assert code == 0
    assert "1,039 requests over 1.5 h" in printed
    assert "Recommended" not in printed
    assert (tmp_path / "timeline-current.csv").is_file()
