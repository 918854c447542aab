"""How long one request takes when a copy serves `k` requests at once, and how many it can."""

from __future__ import annotations

import bisect
import csv
from dataclasses import dataclass
from pathlib import Path


class ServiceCurveError(ValueError):
    """A service curve that cannot drive a simulation; the message says what to fix."""


@dataclass(frozen=True)
class ServiceCurve:
    """Mean latency (s) at each concurrency per copy, ascending; the last point is the most
    requests a copy serves at once (its batch): more wait in the container's queue."""

    concurrency: tuple[float, ...]
    latency_s: tuple[float, ...]
    source: str

    def __post_init__(self) -> None:
        if not self.concurrency or len(self.concurrency) != len(self.latency_s):
            raise ServiceCurveError("a service curve needs matching concurrency and latency points")
        if any(k < 1 for k in self.concurrency) or list(self.concurrency) != sorted(
            set(self.concurrency)
        ):
            raise ServiceCurveError(
                "service curve concurrencies must be distinct, ascending and at least 1"
            )
        if any(latency <= 0 for latency in self.latency_s):
            raise ServiceCurveError("service curve latencies must be positive")

    @property
    def max_concurrency(self) -> float:
        """Requests one copy serves at once; beyond it they queue inside the container."""
        return self.concurrency[-1]

    def latency(self, k: float) -> float:
        """Latency at concurrency `k`, linear between points and flat outside them."""
        points = self.concurrency
        if k <= points[0]:
            return self.latency_s[0]
        if k >= points[-1]:
            return self.latency_s[-1]
        i = bisect.bisect_right(points, k)
        k0, k1 = points[i - 1], points[i]
        l0, l1 = self.latency_s[i - 1], self.latency_s[i]
        return l0 + (l1 - l0) * (k - k0) / (k1 - k0)

    def throughput(self, k: float) -> float:
        """Requests per second one copy completes while serving `k` at once."""
        served = min(k, self.max_concurrency)
        return served / self.latency(served)

    @classmethod
    def parse(cls, text: str) -> ServiceCurve:
        """`"1:2.0,4:2.6,8:3.9"`: concurrency:latency-seconds pairs."""
        points: list[tuple[float, float]] = []
        for part in text.split(","):
            try:
                k, latency = part.split(":")
                points.append((float(k), float(latency)))
            except ValueError:
                raise ServiceCurveError(
                    f"bad service point {part.strip()!r}: expected concurrency:seconds, e.g. 4:2.6"
                ) from None
        points.sort()
        return cls(
            tuple(k for k, _ in points), tuple(latency for _, latency in points), f"given {text}"
        )

    @classmethod
    def from_loadtest_csv(cls, path: Path, route: str = "all") -> ServiceCurve:
        """The steps of a `make loadtest` CSV: mean latency at each concurrency per copy."""
        try:
            with path.open(newline="", encoding="utf-8") as handle:
                rows = [row for row in csv.DictReader(handle) if row.get("route") == route]
        except OSError as err:
            raise ServiceCurveError(f"cannot read load test CSV {path}: {err.strerror}") from None
        points = sorted(
            (float(row["concurrency_per_copy"]), float(row["mean_s"]))
            for row in rows
            if row.get("mean_s") not in (None, "") and int(row.get("ok") or 0) > 0
        )
        if not points:
            raise ServiceCurveError(
                f"{path} has no successful {route!r} steps with columns concurrency_per_copy and "
                "mean_s; run `make loadtest` to produce one"
            )
        return cls(
            tuple(k for k, _ in points),
            tuple(latency for _, latency in points),
            f"measured {path.name}",
        )

    @classmethod
    def estimate(
        cls,
        *,
        decode_tokens_per_s: float,
        new_tokens: int,
        prefill_s: float,
        overhead_s: float,
        batch_slowdown: float,
        max_batch: int,
        source: str,
    ) -> ServiceCurve:
        """Continuous batching: each extra sequence in the batch slows every decode step a little."""
        ks = sorted({1, 2, 4, 8, 16, 32, 64, max_batch} & set(range(1, max_batch + 1)))
        decode_s = new_tokens / decode_tokens_per_s
        latencies = tuple(
            overhead_s + prefill_s + decode_s * (1 + batch_slowdown * (k - 1)) for k in ks
        )
        return cls(tuple(float(k) for k in ks), latencies, source)
