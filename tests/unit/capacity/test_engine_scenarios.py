"""The whole simulation against scenarios worked out by hand.

Shared arithmetic: with the flat 5 s service curve every admitted request holds a batch slot
for exactly 5 s, so the requests in the container after step t are the arrivals of steps
t-4..t: a steady 0.4 req/s keeps 2.0 in flight, 2.0 req/s keeps 10.0. The metric is that
number divided by the ready copies, averaged into 10-second data points.
"""

from __future__ import annotations

import numpy as np
import pytest

from capacity.simulator.engine import Simulation
from capacity.simulator.policy import ScalingEvent
from capacity.simulator.result import SimulationResult
from capacity.simulator.settings import CopyShape, Gatekeeper
from capacity.simulator.traffic import from_rates
from tests.unit.capacity.support import deployment, flat_curve, settings, timing


def burst(at: int, duration: int = 900) -> np.ndarray:
    """0.4 req/s, then 2.0 req/s from second `at`."""
    rates = np.full(duration, 0.4)
    rates[at:] = 2.0
    return rates


def events(result: SimulationResult, kind: str) -> list[ScalingEvent]:
    return [e for e in result.events if e.kind == kind]


def row(result: SimulationResult, column: str, t: int) -> float:
    """The timeline value at the 10-second boundary `t`."""
    index = int(np.flatnonzero(result.timeline["t"] == t)[0])
    return float(result.timeline[column][index])


def test_first_scale_out_after_a_step_burst() -> None:
    """Burst from 0.4 to 2.0 req/s at t=120 on one copy, target 4, reaction 60 s.

    In flight after steps 120..124: 4 x 0.4 + 2 = 3.6, 5.2, 6.8, 8.4, then 10.0 from 124 on.
    10-second points: [120,130) = (3.6+5.2+6.8+8.4+6x10)/10 = 8.4; [130,180) = 10 each.
    The high alarm's one 1-minute point for [60,120) is 2.0 (< 4, no alarm); for [120,180) it
    is (8.4 + 5 x 10)/6 = 9.733 > 4: ALARM at t=180, acted on at 180 + 60 = 240 with
    desired = ceil(1 x 9.733 / 4) = ceil(2.43) = 3 copies. Nothing happens before.
    """
    result = Simulation(
        deployment(), settings(), flat_curve(), from_rates("burst", burst(120, 300)), timing()
    ).run()

    (first,) = events(result, "scale-out")
    assert first.t == 240
    assert (first.before, first.after) == (1, 3)
    assert first.metric == pytest.approx(58.4 / 6)
    assert row(result, "desired", 240) == 1
    assert row(result, "desired", 250) == 3


def test_a_burst_mid_minute_waits_for_the_minute_boundary() -> None:
    """Burst at t=150: the [120,180) point mixes 3 quiet and 3 busy 10-second points:
    (2 + 2 + 2 + 8.4 + 10 + 10)/6 = 5.733 > 4: ALARM at 180, scale-out at 240 to
    ceil(5.733 / 4) = 2 copies."""
    result = Simulation(
        deployment(), settings(), flat_curve(), from_rates("burst", burst(150, 300)), timing()
    ).run()

    (first,) = events(result, "scale-out")
    assert (first.t, first.after) == (240, 2)
    assert first.metric == pytest.approx(34.4 / 6)


def test_scale_out_cooldown_blocks_a_second_scale_out() -> None:
    """Same burst at 120, copies start in 600 s so the new ones are not serving yet.

    t=240: 1 -> 3 copies (above); the cooldown runs to 240 + 300 = 540.
    The [180,240) point is 10.0 on the one ready copy: ALARM at 240, acted on at 300, inside
    the cooldown, so it is measured from the capacity before the scale-out (1 copy):
    ceil(1 x 10 / 4) = 3, not above the 3 already asked for: blocked. Measured from the
    current 3 it would have been ceil(3 x 10 / 4) = 8 (4 after the maximum).
    """
    result = Simulation(
        deployment(), settings(), flat_curve(), from_rates("burst", burst(120, 420)), timing()
    ).run()

    assert [(e.t, e.after) for e in events(result, "scale-out")] == [(240, 3)]
    blocked = events(result, "scale-out-blocked")
    assert blocked[0].t == 300
    assert row(result, "desired", 400) == 3


def test_without_the_cooldown_the_stale_metric_over_scales() -> None:
    """Scale-out cooldown 60 s: at t=300 the cooldown (240..300) is over, so the same 10.0
    per ready copy is applied to the 3 desired copies: ceil(3 x 10 / 4) = 8, capped at the
    maximum of 4, although 3 would have carried the load."""
    result = Simulation(
        deployment(),
        settings(scale_out_cooldown_s=60),
        flat_curve(),
        from_rates("burst", burst(120, 420)),
        timing(),
    ).run()

    assert [(e.t, e.after) for e in events(result, "scale-out")] == [(240, 3), (300, 4)]


def test_scale_in_after_a_quiet_period_then_instance_release() -> None:
    """Two ready copies, one per instance, no traffic, minimum 1 copy.

    Every 10-second point is 0.0 < 0.9 x 4: the low alarm needs 90 of them, complete at
    t=900; acted on at 960: desired = max(ceil(2 x 0 / 4), min 1) = 1. The emptied instance
    is released 600 s later, at the first 10-second check from 1560.
    """
    result = Simulation(
        deployment(),
        settings(),
        flat_curve(),
        from_rates("quiet", np.zeros(1700)),
        timing(),
        initial_copies=2,
    ).run()

    (scale_in,) = events(result, "scale-in")
    assert (scale_in.t, scale_in.before, scale_in.after) == (960, 2, 1)
    assert row(result, "ready", 960) == 2
    assert row(result, "ready", 970) == 1
    assert row(result, "instances", 1550) == 2
    assert row(result, "instances", 1560) == 1


def test_scale_in_to_zero_needs_a_minimum_of_zero() -> None:
    """Minimum 0: the same quiet period takes the last copy away at 960, and the instance
    (minimum 0 instances) at 1560; with nothing left running the cost stops."""
    result = Simulation(
        deployment(min_instances=0),
        settings(min_copies=0),
        flat_curve(),
        from_rates("quiet", np.zeros(1800)),
        timing(),
        initial_copies=1,
    ).run()

    (scale_in,) = events(result, "scale-in")
    assert (scale_in.t, scale_in.after) == (960, 0)
    assert row(result, "instances", 1560) == 0
    # One instance at $0.001/s for 1560 s, then nothing.
    assert result.cost_usd == pytest.approx(1.56)


def test_wake_from_zero_through_the_step_policy() -> None:
    """Zero copies and instances, 0.1 req/s from t=0, wake cooldown 600 s.

    Refused in [0,60): 6 >= 1, the NoCapacityInvocationFailures alarm fires at 60, the step
    policy adds a copy at 60 + 60 = 120. No instance: one launches (ready 120 + 300 = 420),
    the copy starts there (ready 420 + 120 = 540). Requests keep being refused until then:
    540 s x 0.1 = 54. Later alarms (at 120..480, acted on 180..540) fall in the 600 s
    cooldown, where the copy just added counts: no second copy.
    """
    result = Simulation(
        deployment(min_instances=0),
        settings(min_copies=0, max_copies=2),
        flat_curve(),
        from_rates("wake", np.full(900, 0.1)),
        timing(llm_copy_start_s=120, wake_cooldown_s=600),
        initial_copies=0,
    ).run()

    assert [(e.t, e.before, e.after) for e in events(result, "wake")] == [(120, 0, 1)]
    assert result.refused == pytest.approx(54.0)
    assert row(result, "ready", 540) == 0
    assert row(result, "ready", 550) == 1
    assert row(result, "instances", 120) == 0
    assert row(result, "instances", 130) == 1
    assert result.request_t.min() == 540


def test_a_short_wake_cooldown_adds_a_copy_per_minute_of_refusals() -> None:
    """A 60 s wake cooldown against a 120 s copy start and a 300 s launch: the alarm
    still fires at 120 (refusals in [60,120)), acted on at 180 when the cooldown from 120 has
    just ended: a second copy, which needs a second instance. At 240 the maximum (2) stops it."""
    result = Simulation(
        deployment(min_instances=0),
        settings(min_copies=0, max_copies=2),
        flat_curve(),
        from_rates("wake", np.full(900, 0.1)),
        timing(llm_copy_start_s=120, wake_cooldown_s=60),
        initial_copies=0,
    ).run()

    assert [(e.t, e.after) for e in events(result, "wake")] == [(120, 1), (180, 2)]
    assert row(result, "instances", 190) == 2


def test_one_refused_request_wakes_the_embedder_and_the_llm_together() -> None:
    """An embedder that also scaled to zero sits before the LLM, so requests are refused by it;
    its no-capacity alarm fires every component's wake policy, as the stack wires it.
    Refusals in [0,60) fire it at 60; at 120 the LLM's policy adds a copy (no instance: one
    launches, ready 420; the copy starts there, ready 420 + 120 = 540) and the embedder's copy
    goes on the same instance (ready 420 + 60 = 480). Requests are refused until 540, by the
    embedder and then by the LLM: 540 x 0.1 = 54. The LLM's later alarm (540, acted on 600)
    falls in its 600 s cooldown: still one copy, one instance."""
    embedder = Gatekeeper("embedding", CopyShape(0, 1.0, 2000), copies=1, can_sleep=True)
    result = Simulation(
        deployment(min_instances=0, gatekeepers=(embedder,)),
        settings(min_copies=0, max_copies=2),
        flat_curve(),
        from_rates("wake", np.full(1200, 0.1)),
        timing(llm_copy_start_s=120, wake_cooldown_s=600),
        initial_copies=0,
    ).run()

    assert [(e.t, e.after) for e in events(result, "wake")] == [(120, 1)]
    assert result.request_t.min() == 540
    assert result.refused == pytest.approx(54.0)
    assert row(result, "instances", 1000) == 1


def test_instances_follow_copies() -> None:
    """One GPU per instance and per copy: the scale-out to 3 copies at t=240 launches two
    instances at once (3 billing from 240); they are ready at 540 and their copies at
    540 + 600 = 1140. With four GPUs per instance the same three copies share one."""
    traffic = from_rates("burst", burst(120, 1200))
    one_gpu = Simulation(
        deployment(), settings(scale_out_cooldown_s=3600), flat_curve(), traffic, timing()
    ).run()
    four_gpus = Simulation(
        deployment(gpus_per_instance=4),
        settings(scale_out_cooldown_s=3600),
        flat_curve(),
        traffic,
        timing(),
    ).run()

    assert row(one_gpu, "instances", 240) == 1
    assert row(one_gpu, "instances", 250) == 3
    assert row(one_gpu, "ready", 1140) == 1
    assert row(one_gpu, "ready", 1150) == 3
    assert four_gpus.timeline["instances"].max() == 1
    # On the running instance a copy skips the launch: ready at 240 + 600 = 840.
    assert row(four_gpus, "ready", 840) == 1
    assert row(four_gpus, "ready", 850) == 3


def test_cost_is_instances_times_price_over_time() -> None:
    """One instance for the whole 3600 s at $3.60/h: $3.60, $86.40 per day."""
    result = Simulation(
        deployment(), settings(), flat_curve(), from_rates("calm", np.full(3600, 0.2)), timing()
    ).run()

    summary = result.summary()
    assert result.cost_usd == pytest.approx(3.6)
    assert summary.cost_per_day_usd == pytest.approx(86.4)
    assert summary.p50_s == pytest.approx(5.0)
    assert summary.refused == 0


@pytest.mark.parametrize(("blocks", "refused"), [(True, 60.0), (False, 0.0)])
def test_a_helper_without_a_copy_refuses_nothing(blocks: bool, refused: float) -> None:
    """The helper's calls fall back when it has no copy: the request goes on to the LLM. A
    component every request must pass (blocks) refuses all 600 x 0.1 requests instead."""
    no_copy = Gatekeeper(
        "helper", CopyShape(0, 1.0, 1000), copies=0, can_sleep=True, blocks_requests=blocks
    )
    result = Simulation(
        deployment(gatekeepers=(no_copy,)),
        settings(),
        flat_curve(),
        from_rates("steady", np.full(600, 0.1)),
        timing(),
    ).run()

    assert result.refused == pytest.approx(refused)


def test_a_helper_takes_a_gpu_of_its_own() -> None:
    """One GPU per instance: the LLM's copy and the helper's need two instances."""
    helper = Gatekeeper(
        "helper", CopyShape(1, 1.0, 1000), copies=1, can_sleep=False, blocks_requests=False
    )
    alone, helped = (
        Simulation(
            deployment(gatekeepers=gates),
            settings(),
            flat_curve(),
            from_rates("steady", np.full(300, 0.1)),
            timing(),
        ).run()
        for gates in ((), (helper,))
    )

    assert alone.timeline["instances"].max() == 1
    assert helped.timeline["instances"].max() == 2
