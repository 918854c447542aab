"""How long the scaling simulator takes over a week of diurnal traffic (target: under 10 s).

One run per shipped config with its current settings and estimated service curve: 604,800
one-second steps each. The week is busy enough to scale: ten times the usage plan's daily
quota. Prints numbers only: nothing here asserts a timing.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DAYS = 7
TARGET_S = 10.0


def main() -> None:
    sys.path.insert(0, str(REPO))
    from capacity.simulator.engine import Simulation
    from capacity.simulator.estimates import estimated_curve
    from capacity.simulator.settings import Deployment, ScalingSettings, Timing
    from capacity.simulator.traffic import TrafficLevels, builtin
    from model_config import available_models, load_config

    for name in available_models():
        config = load_config(name)
        curve = estimated_curve(config)
        one_copy_rps = curve.throughput(config.llm.scaling.target_concurrent_requests_per_copy)
        levels = TrafficLevels.from_config(
            config, one_copy_rps, requests_per_day=10 * config.api.quota_per_day
        )
        started = time.perf_counter()
        traffic = builtin("diurnal", levels, days=DAYS)
        built = time.perf_counter()
        result = Simulation(
            Deployment.from_config(config),
            ScalingSettings.from_config(config),
            curve,
            traffic,
            Timing.for_config(config),
        ).run()
        simulated = time.perf_counter()
        summary = result.summary()
        summarized = time.perf_counter()
        total = summarized - started
        verdict = "meets" if total < TARGET_S else "MISSES"
        print(
            f"{name:18s} {traffic.total:>9,.0f} requests over {DAYS} days: "
            f"{total:5.2f} s ({verdict} the {TARGET_S:g} s target): traffic "
            f"{built - started:.2f} s, simulation {simulated - built:.2f} s, summary "
            f"{summarized - simulated:.2f} s; {summary.scale_outs} scale-outs, "
            f"{summary.scale_ins} scale-ins, ${summary.cost_per_day_usd:,.0f}/day"
        )


if __name__ == "__main__":
    main()
