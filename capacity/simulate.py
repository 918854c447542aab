"""`python -m capacity.simulate`: simulate one deployment's autoscaling and recommend settings.

python -m capacity.simulate --model smollm2-1.7b --profile quiet-night
python -m capacity.simulate --profile requests.csv --service-csv .local/capacity/<run>/loadtest.csv
python -m capacity.simulate --candidate target=8,max=2 --candidate target=2,out=300
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from capacity.paths import run_dir
from capacity.simulator import chart, recommend, report, rules
from capacity.simulator.estimates import estimated_curve
from capacity.simulator.recommend import Objective
from capacity.simulator.result import SimulationResult
from capacity.simulator.service import ServiceCurve, ServiceCurveError
from capacity.simulator.settings import Deployment, ScalingSettings, SettingsError, Timing
from capacity.simulator.traffic import (
    DAY_S,
    PROFILES,
    Traffic,
    TrafficError,
    TrafficLevels,
    builtin,
    from_csv,
)
from model_config import DEFAULT_MODEL, ConfigError, DeploymentConfig, load_config


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m capacity.simulate",
        description="Simulate the LLM component's autoscaling under a traffic profile: copies, "
        "instances, queued and refused requests, p95 latency and cost; recommend settings.",
    )
    parser.add_argument("--model", default=DEFAULT_MODEL, help="model config name")
    parser.add_argument(
        "--profile",
        default="diurnal",
        help=f"built-in profile ({', '.join(PROFILES)}) or a CSV of request timestamps",
    )
    parser.add_argument("--days", type=float, default=1, help="days of the diurnal profile")
    parser.add_argument(
        "--requests-per-day",
        type=float,
        help="daily volume (default: a day whose busiest hour needs 2.5 copies)",
    )
    parser.add_argument(
        "--burst-rps", type=float, help="the burst's rate (default: the usage plan rate limit)"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the Poisson arrivals")
    service = parser.add_mutually_exclusive_group()
    service.add_argument("--service-csv", type=Path, help="a `make loadtest` CSV")
    service.add_argument("--service", help="latency points, concurrency:seconds, e.g. 1:2,4:2.6")
    parser.add_argument(
        "--p95-objective",
        type=float,
        help="p95 latency objective in seconds (default: the config's p95 latency alarm)",
    )
    parser.add_argument(
        "--candidate",
        action="append",
        default=[],
        help="settings to compare, as changes to the current ones: target=6,min=1,max=3,out=120,in=600",
    )
    parser.add_argument("--no-recommend", action="store_true", help="only compare, do not search")
    timing = parser.add_argument_group(
        "timings (AWS publishes no figure; see capacity/simulator/settings.py)"
    )
    defaults = Timing()
    timing.add_argument("--copy-start-s", type=int, default=defaults.llm_copy_start_s)
    timing.add_argument("--instance-launch-s", type=int, default=defaults.instance_launch_s)
    timing.add_argument("--reaction-s", type=int, default=defaults.alarm_reaction_s)
    timing.add_argument("--idle-release-s", type=int, default=defaults.instance_idle_release_s)
    parser.add_argument("--dpi", type=int, default=100, help="chart resolution (default 100)")
    parser.add_argument("--out", type=Path, help="output folder (default: .local/capacity/<run>)")
    return parser.parse_args(argv)


def load_traffic(
    args: argparse.Namespace, config: DeploymentConfig, curve: ServiceCurve
) -> Traffic:
    if args.profile in PROFILES:
        one_copy_rps = curve.throughput(config.llm.scaling.target_concurrent_requests_per_copy)
        levels = TrafficLevels.from_config(
            config, one_copy_rps, args.requests_per_day, args.burst_rps
        )
        return builtin(args.profile, levels, days=args.days, seed=args.seed)
    path = Path(args.profile)
    if not path.is_file():
        raise TrafficError(
            f"profile {args.profile!r} is neither a built-in ({', '.join(PROFILES)}) nor a file"
        )
    return from_csv(path)


def load_curve(args: argparse.Namespace, config: DeploymentConfig) -> ServiceCurve:
    if args.service_csv:
        return ServiceCurve.from_loadtest_csv(args.service_csv)
    if args.service:
        return ServiceCurve.parse(args.service)
    return estimated_curve(config)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.model)
        curve = load_curve(args, config)
        traffic = load_traffic(args, config, curve)
        timing = Timing.for_config(
            config,
            llm_copy_start_s=args.copy_start_s,
            instance_launch_s=args.instance_launch_s,
            alarm_reaction_s=args.reaction_s,
            instance_idle_release_s=args.idle_release_s,
        )
        deployment = Deployment.from_config(config)
        current = ScalingSettings.from_config(config)
        candidates = [
            current.with_changes(spec, f"candidate-{i}") for i, spec in enumerate(args.candidate, 1)
        ]
    except (ConfigError, ServiceCurveError, TrafficError, SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    objective_s = args.p95_objective or config.monitoring.api_p95_latency_ms / 1000
    objective = Objective(p95_s=min(objective_s, deployment.deadline_s))
    print(
        f"{config.name}: {deployment.instance_type} at ${deployment.usd_per_hour}/h, "
        f"{deployment.copies_per_instance()} LLM copies per instance, up to "
        f"{deployment.max_instances} instances\n"
        f"traffic: {traffic.name}, {traffic.total:,.0f} requests over {traffic.duration_s / 3600:.1f} h\n"
        f"service: {curve.source}; {curve.latency(1):.1f} s alone, "
        f"{curve.latency(curve.max_concurrency):.1f} s at {curve.max_concurrency:g} per copy\n"
        f"rules: target tracking alarms {rules.HIGH_ALARM.datapoints} x {rules.HIGH_ALARM.period_s} s "
        f"high / {rules.LOW_ALARM.datapoints} x {rules.LOW_ALARM.period_s} s low at "
        f"{rules.LOW_ALARM.ratio:.0%}; reaction {timing.alarm_reaction_s} s, instance "
        f"{timing.instance_launch_s} s, copy {timing.llm_copy_start_s} s\n"
    )
    per_day = traffic.total / (traffic.duration_s / DAY_S)
    if per_day > config.api.quota_per_day:
        print(
            f"note: {per_day:,.0f} requests a day is more than one API key's daily quota "
            f"({config.api.quota_per_day:,}): the traffic of several keys\n"
        )
    started = time.perf_counter()
    results: list[SimulationResult] = [
        recommend.simulate(deployment, settings, curve, traffic, timing)
        for settings in [current, *candidates]
    ]
    recommendation = None
    if not args.no_recommend:
        recommendation = recommend.recommend(
            deployment, current, curve, traffic, timing, objective, config.endpoint.scale_to_zero
        )
        results.append(recommendation.result)
    elapsed = time.perf_counter() - started

    summaries = [result.summary() for result in results]
    out = run_dir("simulate", f"{config.name}-{Path(args.profile).stem}", args.out)
    report.write_summary_csv(out / "summary.csv", summaries)
    for result in results:
        report.write_timeline_csv(out / f"timeline-{result.settings.name}.csv", result)
    png = chart.draw(
        out / "simulation.png",
        results,
        title=f"{config.name} under {traffic.name}: {curve.source}",
        p95_objective_s=objective.p95_s,
        dpi=args.dpi,
    )
    print(report.table(summaries))
    print(
        "\n503 %: refused while no copy was ready (scale from zero); 504 %: past the app's "
        f"{deployment.deadline_s:g} s deadline. p95 counts answered requests.\n"
    )
    if recommendation is not None:
        text = report.recommendation_text(recommendation, objective, traffic.name)
        (out / "recommendation.yaml").write_text(report.yaml_snippet(recommendation))
        print(text)
        copies = deployment.max_copies_bound()
        most = copies * curve.throughput(curve.max_concurrency)
        minute = traffic.arrivals[: traffic.duration_s // 60 * 60].reshape(-1, 60).sum(axis=1)
        peak = float(minute.max()) / 60 if minute.size else 0.0
        if not recommendation.meets_objective and peak > most:
            print(
                f"Why: the profile peaks at {peak:.1f} requests/s over a minute; the "
                f"{copies} copies endpoint.max_instances allows serve at most {most:.1f}/s "
                f"with {curve.max_concurrency:g} at once each. Raise endpoint.max_instances and "
                "llm.scaling.max_copies, or let less traffic through the usage plan "
                "(api.rate_limit_rps, api.quota_per_day).\n"
            )
        alone = curve.latency(1)
        if not recommendation.meets_objective and alone > min(
            objective.p95_s, deployment.deadline_s
        ):
            print(
                f"Why: one request alone takes {alone:.1f} s on this service curve, beyond the "
                f"objective ({objective.p95_s:g} s) or the app's deadline "
                f"({deployment.deadline_s:g} s); no number of copies shortens it. Lower "
                "generation.max_new_tokens, use the streamed chat route, or measure the real "
                "curve with `make loadtest`.\n"
            )
    print(f"simulated {len(summaries)} shown (+ search) in {elapsed:.1f} s")
    print(f"wrote {out / 'summary.csv'}, {png} and one timeline CSV per setting")
    return 0


if __name__ == "__main__":
    sys.exit(main())
