"""The load test's PNG: latency percentiles and throughput against concurrency per copy."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from capacity.loadtest.stats import StepStats


def _series(rows: Sequence[StepStats], field: str) -> tuple[list[float], list[float]]:
    points = [(r.concurrency_per_copy, getattr(r, field)) for r in rows]
    kept = [(x, y) for x, y in points if y is not None]
    return [x for x, _ in kept], [y for _, y in kept]


def draw(
    path: Path,
    rows: Sequence[StepStats],
    *,
    title: str,
    p95_objective_s: float,
    knee: StepStats | None,
) -> Path:
    figure = Figure(figsize=(11, 4.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    latency_axis, throughput_axis = figure.subplots(1, 2)
    everything = [r for r in rows if r.route == "all"]
    for field, marker in (("p50_s", "o"), ("p95_s", "s"), ("p99_s", "^")):
        xs, ys = _series(everything, field)
        latency_axis.plot(xs, ys, "-", marker=marker, label=f"all {field[:3]}")
    for route in ("rag", "chat"):
        chosen = [r for r in rows if r.route == route]
        xs, ys = _series(chosen, "p95_s")
        if xs:
            latency_axis.plot(xs, ys, ":", marker="s", label=f"{route} p95")
        if route == "chat":
            for field in ("ttft_p50_s", "ttft_p95_s"):
                xs, ys = _series(chosen, field)
                if xs:
                    latency_axis.plot(
                        xs, ys, "--", marker="x", label=f"chat first token {field[5:8]}"
                    )
    for route in ("all", "rag", "chat"):
        xs, ys = _series([r for r in rows if r.route == route], "throughput_rps")
        if xs:
            throughput_axis.plot(xs, ys, "-" if route == "all" else ":", marker="o", label=route)
    latency_axis.axhline(p95_objective_s, color="red", linestyle="--", linewidth=0.8)
    if knee is not None:
        for axis in (latency_axis, throughput_axis):
            axis.axvline(knee.concurrency_per_copy, color="green", linestyle=":", linewidth=1)
    latency_axis.set_xlabel("concurrent requests per copy")
    latency_axis.set_ylabel("latency s (red: p95 objective, green: knee)")
    latency_axis.legend(fontsize=7)
    throughput_axis.set_xlabel("concurrent requests per copy")
    throughput_axis.set_ylabel("successful requests/s")
    throughput_axis.legend(fontsize=7)
    for axis in (latency_axis, throughput_axis):
        axis.grid(alpha=0.3)
    figure.suptitle(title, fontsize=10)
    figure.savefig(path)
    return path
