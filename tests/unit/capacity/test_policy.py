"""The scaling rules on their own: data points fed by hand, decisions checked by hand."""

from __future__ import annotations

import pytest

from capacity.simulator import rules
from capacity.simulator.policy import StepWake, TargetTracking
from tests.unit.capacity.support import settings


def feed(policy: TargetTracking, start: int, values: list[float | None]) -> int:
    """10-second points ending at start+10, start+20, ...; returns the last boundary."""
    boundary = start
    for value in values:
        boundary += rules.DATAPOINT_S
        policy.datapoint(boundary, value)
    return boundary


@pytest.mark.parametrize(
    ("current", "metric", "target", "expected"),
    [
        (1, 9.7333, 4, 3),  # ceil(2.43)
        (2, 4.0, 4, 2),  # exactly on target: no change
        (2, 4.0000000001, 4, 2),  # float noise does not add a copy
        (3, 10.0, 4, 8),  # ceil(7.5)
        (4, 1.0, 4, 1),
        (2, 0.0, 4, 0),  # no traffic: as low as the minimum allows
    ],
)
def test_desired_copies_is_ceil_of_current_times_metric_over_target(
    current: int, metric: float, target: float, expected: int
) -> None:
    assert rules.desired_copies(current, metric, target) == expected


def test_clamp_keeps_the_scalable_target_bounds() -> None:
    assert rules.clamp(8, 1, 4) == 4
    assert rules.clamp(0, 1, 4) == 1
    assert rules.clamp(3, 1, 4) == 3


def test_high_alarm_waits_for_its_data_points_then_the_reaction() -> None:
    """AWS's high-resolution alarm: one 1-minute point (the mean of six 10 s points) above 4.
    Points [0,60) = 2 (quiet), [60,120) = 6: that minute's point is 6 > 4 -> ALARM at 120,
    acted on at 120 + 60 = 180: ceil(1 x 6 / 4) = 2 copies."""
    policy = TargetTracking(settings(), reaction_s=60)
    feed(policy, 0, [2.0] * 6 + [6.0] * 6)

    assert policy.decide(179, 1) == 1
    assert policy.decide(180, 1) == 2
    assert [(e.t, e.kind, e.after) for e in policy.events] == [(180, "scale-out", 2)]


def test_the_1_minute_alarms_three_data_points_take_three_minutes() -> None:
    """The standard-resolution alarm (3 data points of 60 s) on the same burst: ALARM only
    after three breaching minutes, [60,240) -> at 240, acted on at 300."""
    policy = TargetTracking(settings(), reaction_s=60, high=rules.AlarmSpec(60, 3, 1.0, above=True))
    feed(policy, 0, [2.0] * 6 + [6.0] * 18)

    assert policy.decide(299, 1) == 1
    assert policy.decide(300, 1) == 2


def test_missing_data_never_alarms() -> None:
    """At zero copies the metric has no data: nothing scales (the step policy must wake it)."""
    policy = TargetTracking(settings(min_copies=0), reaction_s=0)
    feed(policy, 0, [None] * 200)

    assert policy.decide(10_000, 0) == 0
    assert policy.events == []


def test_low_alarm_needs_90_points_below_90_percent_of_target() -> None:
    """3.5 < 0.9 x 4 = 3.6 for 89 points, then one at 3.7 resets the streak; 90 more at 3.5
    bring ALARM at (1 + 89 + 90) x 10 = 1800: ceil(4 x 3.5 / 4) = 4 -> no change. At 3.0:
    ceil(4 x 3 / 4) = 3 copies."""
    policy = TargetTracking(settings(), reaction_s=0)
    end = feed(policy, 0, [3.5] * 89 + [3.7] + [3.5] * 90)
    assert end == 1800
    assert policy.decide(end, 4) == 4

    policy = TargetTracking(settings(), reaction_s=0)
    end = feed(policy, 0, [3.0] * 90)
    assert end == 900
    assert policy.decide(899, 4) == 4
    assert policy.decide(900, 4) == 3


def test_scale_in_acts_on_the_highest_point_of_its_window() -> None:
    """Points of 1.0 with one of 3.0 among the last 90: ceil(4 x 3 / 4) = 3, not 1."""
    policy = TargetTracking(settings(), reaction_s=0)
    end = feed(policy, 0, [1.0] * 40 + [3.0] + [1.0] * 49)
    assert policy.decide(end, 4) == 3


def test_scale_in_cooldown_blocks_the_next_scale_in() -> None:
    """Low alarm over 3 points (to keep it short), cooldown 600 s, minimum 1.
    t=30: 4 copies at 2.0 -> ceil(4 x 2 / 4) = 2. t=40: the next point (2.0 again) asks for
    ceil(2 x 2 / 4) = 1, inside the cooldown (30..630): blocked. At 630 it goes through."""
    policy = TargetTracking(
        settings(scale_in_cooldown_s=600), reaction_s=0, low=rules.AlarmSpec(10, 3, 0.9, False)
    )
    feed(policy, 0, [2.0] * 3)
    assert policy.decide(30, 4) == 2
    feed(policy, 30, [2.0])
    assert policy.decide(40, 2) == 2
    assert [e.kind for e in policy.events] == ["scale-in", "scale-in-blocked"]
    feed(policy, 620, [2.0])
    assert policy.decide(630, 2) == 1


def test_a_scale_out_ends_the_scale_in_cooldown() -> None:
    """Scale in at t=30 (cooldown to 630); a high minute [60,120) at 8.0 scales out at 120
    (no waiting: ceil(2 x 8 / 4) = 4); the scale-in cooldown is gone, so low points at
    once after may scale in again before 630."""
    policy = TargetTracking(
        settings(scale_in_cooldown_s=600), reaction_s=0, low=rules.AlarmSpec(10, 3, 0.9, False)
    )
    feed(policy, 0, [2.0] * 3)
    assert policy.decide(30, 4) == 2
    feed(policy, 30, [None] * 3 + [8.0] * 6)
    assert policy.decide(120, 2) == 4
    feed(policy, 120, [1.0] * 3)
    assert policy.decide(150, 4) == 1


def test_wake_adds_one_copy_then_waits_out_its_cooldown() -> None:
    """Refusals in three consecutive minutes, reaction 0, cooldown 60: +1 at 60, the alarm
    at 120 finds the cooldown just over: +1; at 180 the maximum (2) stops it."""
    wake = StepWake(max_copies=2, reaction_s=0, cooldown_s=60)
    desired = 0
    for boundary in (60, 120, 180):
        wake.period_end(boundary, refused=3)
        desired = wake.decide(boundary, desired)
    assert [(e.t, e.after) for e in wake.events] == [(60, 1), (120, 2)]

    wake = StepWake(max_copies=2, reaction_s=0, cooldown_s=600)
    desired = 0
    for boundary in (60, 120, 180):
        wake.period_end(boundary, refused=3)
        desired = wake.decide(boundary, desired)
    assert desired == 1


def test_wake_alarm_needs_one_refusal() -> None:
    wake = StepWake(max_copies=2, reaction_s=0)
    wake.period_end(60, refused=0.5)
    assert wake.decide(60, 0) == 0
