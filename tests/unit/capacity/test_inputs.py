"""Service curves, traffic profiles and candidate settings: parsed, checked, refused when bad."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from capacity.simulator.service import ServiceCurve, ServiceCurveError
from capacity.simulator.settings import Deployment, ScalingSettings, SettingsError
from capacity.simulator.traffic import (
    DAY_S,
    PEAK_COPIES,
    PROFILES,
    TrafficError,
    TrafficLevels,
    builtin,
    builtin_rates,
    from_csv,
)
from model_config import load_config
from tests.infrastructure.helper_configs import vllm_helper

CURRENT = ScalingSettings(4, 1, 4, 600, 60, name="current")


def test_service_curve_interpolates_and_saturates() -> None:
    curve = ServiceCurve.parse("1:2.0,4:2.6,8:4.0")

    assert curve.latency(0.5) == 2.0
    assert curve.latency(2.5) == pytest.approx(2.3)
    assert curve.latency(20) == 4.0
    assert curve.max_concurrency == 8
    # Above the batch a copy completes no faster: 8 / 4.0 s.
    assert curve.throughput(8) == curve.throughput(30) == pytest.approx(2.0)


@pytest.mark.parametrize("text", ["1:2,x", "1-2", "0:2", "2:1,1:1,1:3", "1:0"])
def test_bad_service_points_are_refused(text: str) -> None:
    with pytest.raises(ServiceCurveError):
        ServiceCurve.parse(text)


def test_service_curve_from_a_loadtest_csv(tmp_path: Path) -> None:
    path = tmp_path / "loadtest.csv"
    path.write_text(
        "step,concurrency,copies,concurrency_per_copy,route,requests,ok,mean_s\n"
        "1,2,1,2,rag,10,10,1.5\n"
        "1,2,1,2,all,10,10,1.6\n"
        "2,4,1,4,all,20,20,2.2\n"
        "3,8,1,8,all,5,0,\n"
    )
    curve = ServiceCurve.from_loadtest_csv(path)

    assert curve.concurrency == (2.0, 4.0)
    assert curve.latency_s == (1.6, 2.2)

    empty = tmp_path / "empty.csv"
    empty.write_text("route,concurrency_per_copy,mean_s,ok\n")
    with pytest.raises(ServiceCurveError, match="make loadtest"):
        ServiceCurve.from_loadtest_csv(empty)


def test_estimated_curve_grows_with_the_batch() -> None:
    curve = ServiceCurve.estimate(
        decode_tokens_per_s=50,
        new_tokens=100,
        prefill_s=0.5,
        overhead_s=0.5,
        batch_slowdown=0.1,
        max_batch=4,
        source="test",
    )
    # 0.5 + 0.5 + 100/50 = 3 s alone; x (1 + 0.1 x 3) on the decode part with 4 in the batch.
    assert curve.concurrency == (1.0, 2.0, 4.0)
    assert curve.latency(1) == pytest.approx(3.0)
    assert curve.latency(4) == pytest.approx(1.0 + 2.0 * 1.3)


def test_diurnal_profile_carries_the_daily_volume() -> None:
    levels = TrafficLevels(requests_per_day=8640, burst_rps=5)
    rates = builtin_rates("diurnal", levels, days=2)

    assert rates.size == 2 * DAY_S
    assert rates.sum() == pytest.approx(2 * 8640, rel=1e-3)
    # Busy afternoon, quiet night.
    assert rates[15 * 3600] > 3 * rates[3 * 3600]


def test_the_default_day_scales_out_by_day_and_in_at_night() -> None:
    config = load_config()
    one_copy_rps = 0.5
    levels = TrafficLevels.from_config(config, one_copy_rps)
    rates = builtin_rates("diurnal", levels)

    # The busiest hour needs PEAK_COPIES copies at their target; the night fits in one.
    assert rates.max() == pytest.approx(PEAK_COPIES * one_copy_rps, rel=1e-3)
    assert rates.max() > 2 * one_copy_rps
    assert rates[3 * 3600] < one_copy_rps / 4
    # An explicit volume still wins.
    assert TrafficLevels.from_config(config, one_copy_rps, 1000).requests_per_day == 1000


def test_every_builtin_profile_builds_and_poisson_is_seeded() -> None:
    levels = TrafficLevels(requests_per_day=10_000, burst_rps=10)
    for name in PROFILES:
        first = builtin(name, levels, seed=7)
        again = builtin(name, levels, seed=7)
        assert first.duration_s > 0
        assert np.array_equal(first.arrivals, again.arrivals)
    burst = builtin_rates("burst", levels)
    assert burst.max() == 10
    quiet = builtin_rates("quiet-night", levels)
    assert quiet[5 * 3600] == 0


def test_unknown_profile_names_the_choices() -> None:
    with pytest.raises(TrafficError, match="diurnal"):
        builtin_rates("weekly", TrafficLevels(1000, 1))


def test_timestamps_csv_becomes_arrivals_per_second(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text(
        "timestamp,route\n"
        "2025-01-06T09:00:00Z,rag\n"
        "2025-01-06T09:00:00.500Z,rag\n"
        "2025-01-06T09:00:03Z,chat\n"
    )
    traffic = from_csv(path)
    assert traffic.arrivals.tolist() == [2.0, 0.0, 0.0, 1.0]

    insights = tmp_path / "insights.csv"
    insights.write_text(
        "@timestamp,@message\n2025-01-06 09:00:01.000,{}\n2025-01-06 09:00:02.000,{}\n"
    )
    assert from_csv(insights).arrivals.tolist() == [1.0, 1.0]

    gateway = tmp_path / "gateway.csv"
    gateway.write_text("requestTime\n06/Jan/2025:09:00:00 +0000\n06/Jan/2025:09:00:02 +0000\n")
    assert from_csv(gateway).arrivals.tolist() == [1.0, 0.0, 1.0]

    seconds = tmp_path / "seconds.csv"
    seconds.write_text("100.2\n101.9\n")
    assert from_csv(seconds).arrivals.tolist() == [1.0, 1.0]

    bad = tmp_path / "bad.csv"
    bad.write_text("timestamp\nyesterday\n")
    with pytest.raises(TrafficError, match="yesterday"):
        from_csv(bad)


def test_candidate_changes_apply_on_top_of_current() -> None:
    candidate = CURRENT.with_changes("target=6, max=3,out=120", "c1")

    assert (candidate.target, candidate.max_copies, candidate.scale_out_cooldown_s) == (6, 3, 120)
    assert (candidate.min_copies, candidate.scale_in_cooldown_s) == (1, 600)
    assert candidate.name == "c1"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("speed=3", "use target"),
        ("max=2.5", "whole number"),
        ("target=x", "bad candidate value"),
        ("min=5", "min"),
        ("target=0", "positive"),
    ],
)
def test_bad_candidates_are_refused(text: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        CURRENT.with_changes(text, "bad")


def test_a_config_with_a_helper_simulates_its_gpus_but_not_as_a_gate() -> None:
    deployment = Deployment.from_config(vllm_helper())

    by_role = {gate.role: gate for gate in deployment.gatekeepers}
    assert by_role["helper"].shape.gpus == 1
    assert by_role["helper"].blocks_requests is False
    assert by_role["embedding"].shape.gpus == 0
    assert by_role["embedding"].blocks_requests is True
