"""What a simulation produced: a 10-second timeline, every request's latency, and a summary."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from capacity.simulator.policy import ScalingEvent
from capacity.simulator.settings import ScalingSettings

FloatArray = npt.NDArray[np.float64]
DAY_S = 86_400
TIMELINE_FIELDS = (
    "t",
    "desired",
    "ready",
    "instances",
    "in_service",
    "queued",
    "refused",
    "cost",
    "rps",
)


@dataclass
class Timeline:
    """One row every 10 seconds, in TIMELINE_FIELDS order; `refused` and `cost` are totals."""

    rows: list[tuple[float, ...]] = field(default_factory=list)

    def freeze(self) -> dict[str, FloatArray]:
        table = np.asarray(self.rows, dtype=np.float64).reshape(-1, len(TIMELINE_FIELDS))
        return {name: table[:, i] for i, name in enumerate(TIMELINE_FIELDS)}


def weighted_percentile(values: FloatArray, weights: FloatArray, q: float) -> float:
    """The q-th percentile (0-100) of values carrying these weights (request counts)."""
    if values.size == 0 or weights.sum() <= 0:
        return float("nan")
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, q / 100.0 * cumulative[-1], side="left"))
    return float(values[order][min(index, values.size - 1)])


@dataclass(frozen=True)
class Summary:
    """The figures a user compares settings by."""

    name: str
    settings: ScalingSettings
    cost_per_day_usd: float
    p50_s: float
    p95_s: float
    p99_s: float
    worst_window_p95_s: float
    served: float
    refused: float
    refused_pct: float
    deadline_pct: float
    peak_copies: int
    peak_instances: int
    scale_outs: int
    scale_ins: int
    wakes: int


@dataclass(frozen=True)
class SimulationResult:
    """Raw output of one run."""

    settings: ScalingSettings
    traffic_name: str
    duration_s: int
    arrivals: float
    refused: float
    timed_out: float
    unfinished: float
    deadline_s: float
    cost_usd: float
    timeline: dict[str, FloatArray]
    request_t: FloatArray
    request_latency: FloatArray
    request_count: FloatArray
    events: list[ScalingEvent]
    instances_launched: int

    def percentile(self, q: float) -> float:
        return weighted_percentile(self.request_latency, self.request_count, q)

    def window_percentile(self, q: float, window_s: int = 300) -> tuple[FloatArray, FloatArray]:
        """Per window of arrival time: the window's end and its q-th latency percentile."""
        if self.request_t.size == 0:
            return np.zeros(0), np.zeros(0)
        buckets = (self.request_t // window_s).astype(np.int64)
        order = np.lexsort((self.request_latency, buckets))
        buckets, latency, count = (
            buckets[order],
            self.request_latency[order],
            self.request_count[order],
        )
        starts = np.flatnonzero(np.r_[True, buckets[1:] != buckets[:-1]])
        ends = np.r_[starts[1:], buckets.size]
        ts, values = [], []
        for start, end in zip(starts, ends, strict=True):
            cumulative = np.cumsum(count[start:end])
            i = int(np.searchsorted(cumulative, q / 100.0 * cumulative[-1], side="left"))
            ts.append((buckets[start] + 1) * window_s)
            values.append(latency[start + min(i, end - start - 1)])
        return np.asarray(ts, dtype=np.float64), np.asarray(values, dtype=np.float64)

    def _share(self, requests: float) -> float:
        """Percent of all arriving requests."""
        return 100.0 * requests / self.arrivals if self.arrivals else 0.0

    def summary(self) -> Summary:
        served = float(self.request_count.sum())
        late = float(self.request_count[self.request_latency > self.deadline_s].sum())
        _, window_p95 = self.window_percentile(95)
        kinds = [event.kind for event in self.events]
        return Summary(
            name=self.settings.name,
            settings=self.settings,
            cost_per_day_usd=self.cost_usd * DAY_S / max(self.duration_s, 1),
            p50_s=self.percentile(50),
            p95_s=self.percentile(95),
            p99_s=self.percentile(99),
            worst_window_p95_s=float(window_p95.max()) if window_p95.size else float("nan"),
            served=served,
            refused=self.refused,
            refused_pct=self._share(self.refused),
            deadline_pct=self._share(self.timed_out + late),
            peak_copies=int(self.timeline["ready"].max()) if self.timeline["ready"].size else 0,
            peak_instances=int(self.timeline["instances"].max())
            if self.timeline["instances"].size
            else 0,
            scale_outs=kinds.count("scale-out"),
            scale_ins=kinds.count("scale-in"),
            wakes=kinds.count("wake"),
        )
