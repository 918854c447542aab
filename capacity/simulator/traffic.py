"""Request arrivals per second: built-in profiles sized from the config, or recorded timestamps."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from model_config import DeploymentConfig

DAY_S = 86_400
HOUR_S = 3_600
PROFILES = ("steady", "diurnal", "burst", "quiet-night")

# Relative traffic per hour of day (mean 1 after normalizing): a working-hours API.
DIURNAL_WEIGHTS = (
    0.15, 0.10, 0.08, 0.07, 0.08, 0.15, 0.35, 0.70, 1.10, 1.40, 1.55, 1.60,
    1.55, 1.60, 1.70, 1.75, 1.65, 1.50, 1.30, 1.10, 0.90, 0.65, 0.40, 0.25,
)  # fmt: skip


# The default day's busiest hour keeps this many copies busy at their scaling target: enough to
# show scale-out by day and scale-in at night, which the usage plan's quota alone did not.
PEAK_COPIES = 2.5


class TrafficError(ValueError):
    """A profile that cannot be built or read; the message says why."""


@dataclass(frozen=True)
class Traffic:
    """Requests arriving in each second of the simulated period."""

    name: str
    arrivals: npt.NDArray[np.float64]

    @property
    def duration_s(self) -> int:
        return len(self.arrivals)

    @property
    def total(self) -> float:
        return float(self.arrivals.sum())


@dataclass(frozen=True)
class TrafficLevels:
    """How much traffic the built-in profiles carry."""

    requests_per_day: float
    burst_rps: float

    @classmethod
    def from_config(
        cls,
        config: DeploymentConfig,
        one_copy_rps: float,
        requests_per_day: float | None = None,
        burst_rps: float | None = None,
    ) -> TrafficLevels:
        """By default a day whose busiest hour needs more than one copy (PEAK_COPIES of them
        at the scaling target) and whose night needs only the minimum, and bursts at the usage
        plan's rate limit."""
        if requests_per_day is None:
            weights = np.asarray(DIURNAL_WEIGHTS)
            peak_over_mean = float(weights.max() / weights.mean())
            requests_per_day = PEAK_COPIES * one_copy_rps / peak_over_mean * DAY_S
        return cls(
            requests_per_day=requests_per_day,
            burst_rps=burst_rps or float(config.api.rate_limit_rps),
        )

    @property
    def mean_rps(self) -> float:
        return self.requests_per_day / DAY_S


def diurnal_rates(days: float, mean_rps: float) -> npt.NDArray[np.float64]:
    """Per-second rates following DIURNAL_WEIGHTS, interpolated between hours."""
    weights = np.asarray(DIURNAL_WEIGHTS, dtype=np.float64)
    weights = weights / weights.mean()
    seconds = np.arange(int(days * DAY_S), dtype=np.float64)
    hour_of_day = (seconds % DAY_S) / HOUR_S
    # Each hour's weight sits at its middle; wrap around midnight.
    points = np.arange(-0.5, 25.0, 1.0)
    values = np.concatenate(([weights[-1]], weights, [weights[0]]))
    return mean_rps * np.interp(hour_of_day, points, values)


def builtin_rates(name: str, levels: TrafficLevels, days: float = 1) -> npt.NDArray[np.float64]:
    """Per-second request rates of a built-in profile."""
    mean = levels.mean_rps
    if name == "diurnal":
        return diurnal_rates(days, mean)
    if name == "steady":
        # Two hours at the busiest hour's rate.
        peak = mean * max(DIURNAL_WEIGHTS) / (sum(DIURNAL_WEIGHTS) / len(DIURNAL_WEIGHTS))
        return np.full(2 * HOUR_S, peak)
    if name == "burst":
        # 30 minutes at the mean, 10 at the usage plan's rate limit, 80 at the mean again.
        rates = np.full(2 * HOUR_S, mean)
        rates[30 * 60 : 40 * 60] = levels.burst_rps
        return rates
    if name == "quiet-night":
        # An evening at the mean, eight silent hours, a morning at the mean.
        return np.concatenate(
            (np.full(2 * HOUR_S, mean), np.zeros(8 * HOUR_S), np.full(2 * HOUR_S, mean))
        )
    raise TrafficError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)} or a CSV")


def builtin(
    name: str, levels: TrafficLevels, *, days: float = 1, seed: int = 0, poisson: bool = True
) -> Traffic:
    """A built-in profile; Poisson arrivals around its rates unless `poisson` is off."""
    rates = builtin_rates(name, levels, days)
    if poisson:
        arrivals = np.random.default_rng(seed).poisson(rates).astype(np.float64)
    else:
        arrivals = rates.astype(np.float64)
    label = f"{name} ({days:g} days)" if name == "diurnal" else name
    return Traffic(label, arrivals)


def from_rates(name: str, rates: npt.ArrayLike) -> Traffic:
    """Exact (fluid) arrivals per second, as hand-computed scenarios use."""
    return Traffic(name, np.asarray(rates, dtype=np.float64))


# Column names a timestamp may come under: ours, CloudWatch Logs Insights', API Gateway's.
TIMESTAMP_COLUMNS = ("timestamp", "@timestamp", "requesttime")
# API Gateway's $context.requestTime, e.g. 01/Dec/2026:09:00:00 +0000.
CLF_TIME = "%d/%b/%Y:%H:%M:%S %z"


def _seconds(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        pass
    try:
        return datetime.strptime(value, CLF_TIME).timestamp()
    except ValueError:
        raise TrafficError(
            f"bad timestamp {value!r}: use seconds (epoch or from the start), ISO 8601 or "
            "API Gateway's requestTime"
        ) from None


def from_csv(path: Path) -> Traffic:
    """Request timestamps, one per row, in a `timestamp`, `@timestamp` or `requestTime`
    column (or the first column)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except OSError as err:
        raise TrafficError(f"cannot read {path}: {err.strerror}") from None
    if rows and rows[0] and not _is_number(rows[0][0]):
        header = [cell.strip().lower() for cell in rows[0]]
        found = [header.index(name) for name in TIMESTAMP_COLUMNS if name in header]
        column = found[0] if found else 0
        rows = rows[1:]
    else:
        column = 0
    values = [row[column].strip() for row in rows if len(row) > column and row[column].strip()]
    if not values:
        raise TrafficError(f"{path} holds no request timestamps")
    stamps = np.asarray([_seconds(value) for value in values], dtype=np.float64)
    offsets = np.floor(stamps - stamps.min()).astype(np.int64)
    return Traffic(path.name, np.bincount(offsets).astype(np.float64))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
