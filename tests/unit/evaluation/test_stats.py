"""Bootstrap intervals on fixed samples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.stats import mean_interval, paired_difference

# 7 hits in 10: the binomial's normal approximation gives 0.7 +- 0.28.
SAMPLE = [1, 0, 1, 1, 0, 1, 1, 0, 1, 1]


def test_the_interval_brackets_the_mean_at_the_expected_width() -> None:
    interval = mean_interval(SAMPLE, seed=1)
    assert interval.mean == pytest.approx(0.7)
    assert interval.n == 10
    assert interval.low < 0.7 < interval.high
    # Percentile bootstrap of a 0/1 sample: bounds are multiples of 1/10 near 0.7 +- 1.96*0.145.
    assert interval.low == pytest.approx(0.4, abs=0.1)
    assert interval.high == pytest.approx(1.0, abs=0.1)
    assert interval.high <= 1.0


def test_the_same_seed_gives_the_same_interval() -> None:
    assert mean_interval(SAMPLE, seed=3) == mean_interval(SAMPLE, seed=3)


def test_a_constant_sample_has_no_width_and_an_empty_one_no_value() -> None:
    interval = mean_interval([1.0, 1.0, 1.0])
    assert (interval.mean, interval.low, interval.high) == (1.0, 1.0, 1.0)
    assert math.isnan(mean_interval([]).mean)


def test_pairing_finds_a_small_steady_gain_that_separate_intervals_miss() -> None:
    rng = np.random.default_rng(7)
    baseline = rng.uniform(0, 1, 40)
    improved = baseline + 0.05 + rng.normal(0, 0.01, 40)
    before, after = mean_interval(baseline), mean_interval(improved)
    assert after.low < before.high  # the two intervals overlap
    gain = paired_difference(baseline, improved, seed=2)
    assert gain.mean == pytest.approx(float(np.mean(improved - baseline)))
    assert gain.low > 0
    assert gain.excludes_zero()


def test_no_change_gives_an_interval_around_zero() -> None:
    baseline = [1.0, 0.0, 1.0, 0.5, 0.0, 1.0]
    other = [0.0, 1.0, 1.0, 0.5, 0.0, 1.0]  # one loss, one gain
    difference = paired_difference(baseline, other)
    assert difference.mean == 0
    assert not difference.excludes_zero()


def test_paired_samples_must_match_in_length() -> None:
    with pytest.raises(ValueError, match="same length"):
        paired_difference([1.0, 2.0], [1.0])
