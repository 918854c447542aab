"""One PNG comparing settings over time: traffic, copies, instances, failures, p95, cost."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from capacity.simulator.result import SimulationResult

HOUR_S = 3600.0
# Traffic is drawn as 5-minute means: per-10-second Poisson counts are mostly noise.
SMOOTH_ROWS = 30


def mark_scaling_events(
    axis: Axes, t: npt.NDArray[np.float64], ready: npt.NDArray[np.float64], color: str
) -> None:
    """A triangle where ready copies went up (scale-out) or down (scale-in)."""
    change = np.diff(ready, prepend=ready[:1])
    for sign, marker in ((1, "^"), (-1, "v")):
        at = np.sign(change) == sign
        axis.scatter(t[at], ready[at], marker=marker, color=color, s=22, zorder=3)


def draw(
    path: Path,
    results: Sequence[SimulationResult],
    *,
    title: str,
    p95_objective_s: float,
    dpi: int = 100,
) -> Path:
    """Six stacked panels sharing the time axis, one line per simulated setting."""
    figure = Figure(figsize=(11, 13), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(6, 1, sharex=True)
    first = results[0].timeline
    usable = first["rps"].size // SMOOTH_ROWS * SMOOTH_ROWS
    if usable:
        smooth = first["rps"][:usable].reshape(-1, SMOOTH_ROWS).mean(axis=1)
        smooth_t = first["t"][:usable].reshape(-1, SMOOTH_ROWS)[:, -1] / HOUR_S
        axes[0].step(smooth_t, smooth, where="pre", color="0.35", linewidth=0.9)
    axes[0].set_ylabel("requests/s\n(5-min mean)")
    axes[0].set_title(title, fontsize=11)
    for result in results:
        line = result.timeline
        t = line["t"] / HOUR_S
        label = f"{result.settings.name}: {result.settings.describe()}"
        (drawn,) = axes[1].step(t, line["ready"], where="post", label=label, linewidth=1.2)
        color = drawn.get_color()
        axes[1].step(t, line["desired"], where="post", color=color, linestyle=":", linewidth=0.8)
        axes[2].step(t, line["instances"], where="post", color=color, linewidth=1.2)
        refused_per_min = np.diff(line["refused"], prepend=0.0) * 6
        axes[3].plot(t, line["queued"], color=color, linewidth=1.0)
        axes[3].plot(t, refused_per_min, color=color, linewidth=1.0, linestyle="--")
        window_t, p95 = result.window_percentile(95)
        axes[4].plot(window_t / HOUR_S, p95, color=color, marker=".", markersize=3, linewidth=0.8)
        axes[5].plot(t, line["cost"], color=color, linewidth=1.2)
        mark_scaling_events(axes[1], t, line["ready"], color)
    axes[1].set_ylabel("LLM copies (ready; dotted:\ndesired; ^ out, v in)")
    figure.legend(loc="outside lower center", fontsize=8)
    axes[2].set_ylabel("instances")
    for axis, key in ((axes[1], "desired"), (axes[2], "instances")):
        # Whole copies and instances from zero: a flat line at 1 stays a line at 1 of a few.
        top = max(float(result.timeline[key].max()) for result in results)
        axis.set_ylim(-0.2, max(top, 1.0) + 1)
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes[3].set_ylabel("queued (solid)\nrefused/min (dashed)")
    axes[4].axhline(p95_objective_s, color="red", linewidth=0.8, linestyle="--")
    axes[4].set_ylabel("p95 latency s\n(5-min windows)")
    axes[5].set_ylabel("cost $ (cumulative)")
    axes[5].set_xlabel("hours")
    for axis in axes:
        axis.grid(alpha=0.3)
    figure.savefig(path)
    return path
