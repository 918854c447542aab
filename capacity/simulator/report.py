"""Text a user reads: the side-by-side table, the recommendation and its YAML, the CSV files."""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from pathlib import Path

from capacity.simulator.recommend import Objective, Recommendation
from capacity.simulator.result import TIMELINE_FIELDS, SimulationResult, Summary

COLUMNS = (
    ("name", "{}", "name"),
    ("target", "{:g}", "target"),
    ("min", "{}", "min"),
    ("max", "{}", "max"),
    ("out_s", "{}", "out s"),
    ("in_s", "{}", "in s"),
    ("cost_per_day_usd", "{:.2f}", "$/day"),
    ("p50_s", "{:.1f}", "p50 s"),
    ("p95_s", "{:.1f}", "p95 s"),
    ("p99_s", "{:.1f}", "p99 s"),
    ("worst_5min_p95_s", "{:.1f}", "worst 5-min p95"),
    ("refused_503_pct", "{:.2f}", "503 %"),
    ("deadline_504_pct", "{:.2f}", "504 %"),
    ("peak_copies", "{}", "peak copies"),
    ("peak_instances", "{}", "peak instances"),
    ("scale_outs", "{}", "outs"),
    ("scale_ins", "{}", "ins"),
    ("wakes", "{}", "wakes"),
)


def _row(summary: Summary) -> dict[str, object]:
    s = summary.settings
    return {
        "name": summary.name,
        "target": s.target,
        "min": s.min_copies,
        "max": s.max_copies,
        "out_s": s.scale_out_cooldown_s,
        "in_s": s.scale_in_cooldown_s,
        "cost_per_day_usd": summary.cost_per_day_usd,
        "p50_s": summary.p50_s,
        "p95_s": summary.p95_s,
        "p99_s": summary.p99_s,
        "worst_5min_p95_s": summary.worst_window_p95_s,
        "refused_503_pct": summary.refused_pct,
        "deadline_504_pct": summary.deadline_pct,
        "peak_copies": summary.peak_copies,
        "peak_instances": summary.peak_instances,
        "scale_outs": summary.scale_outs,
        "scale_ins": summary.scale_ins,
        "wakes": summary.wakes,
    }


def _cell(fmt: str, value: object) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "-"
    return fmt.format(value)


def table(summaries: Sequence[Summary]) -> str:
    """A fixed-width table, one row per simulated settings."""
    header = [title for _, _, title in COLUMNS]
    body = [[_cell(fmt, _row(s)[key]) for key, fmt, _ in COLUMNS] for s in summaries]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in [header, *body]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def yaml_snippet(recommendation: Recommendation) -> str:
    s = recommendation.settings
    return (
        "llm:\n"
        "  scaling:\n"
        f"    min_copies: {s.min_copies}\n"
        f"    max_copies: {s.max_copies}\n"
        f"    target_concurrent_requests_per_copy: {s.target:g}\n"
        f"    scale_in_cooldown_s: {s.scale_in_cooldown_s}\n"
        f"    scale_out_cooldown_s: {s.scale_out_cooldown_s}\n"
    )


def recommendation_text(recommendation: Recommendation, objective: Objective, profile: str) -> str:
    s, summary = recommendation.settings, recommendation.summary
    verdict = (
        f"meets the p95 objective of {objective.p95_s:g} s"
        if recommendation.meets_objective
        else f"MISSES the p95 objective of {objective.p95_s:g} s (or fails over "
        f"{objective.max_failed_pct:g} % of requests); no setting tried meets it"
    )
    return (
        f"Recommended: target {s.target:g} concurrent requests per copy, copies "
        f"{s.min_copies}-{s.max_copies}, scale-out cooldown {s.scale_out_cooldown_s} s, "
        f"scale-in cooldown {s.scale_in_cooldown_s} s: ${summary.cost_per_day_usd:.2f} per day, "
        f"p95 {summary.p95_s:.1f} s on {profile} ({verdict}; {recommendation.tried} "
        f"setting{'s' if recommendation.tried != 1 else ''} simulated)\n"
        + yaml_snippet(recommendation)
    )


def write_summary_csv(path: Path, summaries: Sequence[Summary]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[key for key, _, _ in COLUMNS])
        writer.writeheader()
        for summary in summaries:
            writer.writerow(_row(summary))


def write_timeline_csv(path: Path, result: SimulationResult) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TIMELINE_FIELDS)
        columns = [result.timeline[name] for name in TIMELINE_FIELDS]
        for row in zip(*columns, strict=True):
            writer.writerow(f"{value:.6g}" for value in row)
