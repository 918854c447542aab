"""Bootstrap 95 % confidence intervals (scipy.stats.bootstrap, percentile method) for a
metric's mean, and for the paired difference of two variants on the same questions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 2000


@dataclass(frozen=True)
class Interval:
    """A mean and its confidence interval over n questions."""

    mean: float
    low: float
    high: float
    n: int

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def _interval(
    samples: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray], seed: int
) -> tuple[float, float]:
    result = stats.bootstrap(
        samples,
        statistic,
        paired=len(samples) > 1,
        vectorized=True,
        confidence_level=CONFIDENCE,
        n_resamples=RESAMPLES,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def mean_interval(values: Sequence[float], seed: int = 0) -> Interval:
    """The mean with its bootstrap interval; a constant sample's interval is the value itself."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    mean = float(data.mean())
    if data.size == 1 or np.ptp(data) == 0:
        return Interval(mean, mean, mean, int(data.size))
    low, high = _interval((data,), _mean, seed)
    return Interval(mean, low, high, int(data.size))


def paired_difference(baseline: Sequence[float], other: Sequence[float], seed: int = 0) -> Interval:
    """Mean of other - baseline over the same questions, with a paired bootstrap interval."""
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(other, dtype=float)
    if a.shape != b.shape:
        raise ValueError("paired samples must have the same length")
    differences = b - a
    mean = float(differences.mean()) if differences.size else float("nan")
    if differences.size < 2 or np.ptp(differences) == 0:
        return Interval(mean, mean, mean, int(differences.size))
    # Resampling questions, not values: each draw keeps a question's two scores together.
    low, high = _interval((a, b), _mean_difference, seed)
    return Interval(mean, low, high, int(differences.size))


def _mean(sample: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(np.mean(sample, axis=axis))


def _mean_difference(a: np.ndarray, b: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.asarray(np.mean(b, axis=axis) - np.mean(a, axis=axis))
