"""The cheapest scaling settings whose simulated p95 meets the objective under a profile."""

from __future__ import annotations

from dataclasses import dataclass, replace

from capacity.simulator.engine import Simulation
from capacity.simulator.result import SimulationResult, Summary
from capacity.simulator.service import ServiceCurve
from capacity.simulator.settings import Deployment, ScalingSettings, Timing
from capacity.simulator.traffic import Traffic

TARGETS = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0)
SCALE_OUT_COOLDOWNS = (60, 120, 300, 600)
SCALE_IN_COOLDOWNS = (300, 600, 900)
# Failed requests (504 past the deadline) a candidate may leave, in percent of all requests.
MAX_FAILED_PCT = 1.0
COST_TOLERANCE = 0.01


@dataclass(frozen=True)
class Objective:
    """What a recommendation must meet."""

    p95_s: float
    max_failed_pct: float = MAX_FAILED_PCT

    def met_by(self, summary: Summary) -> bool:
        return summary.p95_s <= self.p95_s and summary.deadline_pct <= self.max_failed_pct


@dataclass(frozen=True)
class Recommendation:
    """The chosen settings, how they did, and whether they meet the objective."""

    settings: ScalingSettings
    result: SimulationResult
    summary: Summary
    meets_objective: bool
    tried: int


def simulate(
    deployment: Deployment,
    settings: ScalingSettings,
    curve: ServiceCurve,
    traffic: Traffic,
    timing: Timing,
) -> SimulationResult:
    return Simulation(deployment, settings, curve, traffic, timing).run()


def _distance(settings: ScalingSettings, current: ScalingSettings) -> int:
    """How many fields differ from the current settings: ties keep what already works."""
    return sum(
        getattr(settings, name) != getattr(current, name)
        for name in ("target", "min_copies", "scale_in_cooldown_s", "scale_out_cooldown_s")
    )


def _rank(
    summary: Summary, objective: Objective, current: ScalingSettings, cost_step: float
) -> tuple[int, float, float, int]:
    # Feasible first, then cheapest (costs within `cost_step` of each other tie), then fastest
    # in the worst 5 minutes (to the tenth of a second), then closest to the current settings:
    # a change must buy something. Infeasible ones by how badly they fail.
    distance = _distance(summary.settings, current)
    if objective.met_by(summary):
        cost = round(summary.cost_per_day_usd / cost_step)
        return (0, cost, round(summary.worst_window_p95_s, 1), distance)
    return (1, round(summary.deadline_pct, 2), round(summary.p95_s, 1), distance)


def recommend(
    deployment: Deployment,
    current: ScalingSettings,
    curve: ServiceCurve,
    traffic: Traffic,
    timing: Timing,
    objective: Objective,
    scale_to_zero: bool,
) -> Recommendation:
    """Coordinate search: target and minimum copies first, then the cooldowns, then the
    smallest maximum that the chosen settings ever needed (plus one copy of headroom)."""
    if curve.latency(1) > objective.p95_s:
        # One request alone misses the objective: more copies cannot help, and the
        # least-bad setting would only cost more. Keep today's, reported as missing it.
        kept = replace(current, name="recommended")
        result = simulate(deployment, kept, curve, traffic, timing)
        return Recommendation(kept, result, result.summary(), False, 1)
    bound = max(deployment.max_copies_bound(), 1)
    base = replace(
        current, name="recommended", max_copies=bound, min_copies=min(current.min_copies, bound)
    )
    runs: dict[ScalingSettings, SimulationResult] = {}

    def run(settings: ScalingSettings) -> Summary:
        if settings not in runs:
            runs[settings] = simulate(deployment, settings, curve, traffic, timing)
        return runs[settings].summary()

    # Savings under 1 % of today's cost are noise, not a reason to change settings.
    cost_step = max(run(current).cost_per_day_usd * COST_TOLERANCE, 0.01)

    def rank(settings: ScalingSettings) -> tuple[int, float, float, int]:
        return _rank(run(settings), objective, current, cost_step)

    targets = sorted({t for t in TARGETS if t <= curve.max_concurrency} | {current.target})
    # More copies always cost more: try a higher minimum only while no lower one meets the
    # objective. Scale to zero keeps its minimum of zero (the schema ties them together).
    best: ScalingSettings | None = None
    for minimum in (0,) if scale_to_zero else range(1, bound + 1):
        tried = [replace(base, target=t, min_copies=minimum) for t in targets]
        candidate = min(tried, key=rank)
        if best is None or rank(candidate) < rank(best):
            best = candidate
        if objective.met_by(run(best)):
            break
    assert best is not None
    best = min(
        (
            replace(best, scale_out_cooldown_s=out, scale_in_cooldown_s=cool_in)
            for out in sorted(set(SCALE_OUT_COOLDOWNS) | {best.scale_out_cooldown_s})
            for cool_in in sorted(set(SCALE_IN_COOLDOWNS) | {best.scale_in_cooldown_s})
        ),
        key=rank,
    )
    needed = min(bound, max(run(best).peak_copies + 1, best.min_copies, 1))
    trimmed = replace(best, max_copies=needed)
    if rank(trimmed) <= rank(best):
        best = trimmed
    summary = run(best)
    return Recommendation(best, runs[best], summary, objective.met_by(summary), len(runs))
