"""The statistics module against published values and independent scipy computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from registry_client.analysis.statistics import (
    Estimate,
    mae,
    mcnemar,
    moments,
    rmse,
    t_mean,
    t_mean_of,
    two_proportions,
    welch,
    welch_of,
    wilson,
)


def test_wilson_reproduces_published_intervals() -> None:
    """81/263 gives Wilson's (0.2553, 0.3662) (Newcombe 1998, method 3); 0/10 starts at 0."""
    got = wilson(81, 263)
    assert (got.low, got.high) == pytest.approx((0.2553, 0.3662), abs=5e-5)
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == 1.0


def test_two_proportions_reproduces_newcombe() -> None:
    """56/70 - 48/80 gives Newcombe's method-10 interval (0.0524, 0.3339)."""
    difference, _ = two_proportions(56, 70, 48, 80)
    assert difference.value == pytest.approx(0.2)
    assert (difference.low, difference.high) == pytest.approx((0.0524, 0.3339), abs=5e-5)


def test_t_mean_and_welch_equal_scipy() -> None:
    """t_mean is scipy's one-sample t; welch is scipy's ttest_ind(equal_var=False) with its interval."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(1.0, 2.0, 40), rng.normal(0.2, 0.5, 25)
    estimate, p_value = t_mean(a)
    one = stats.ttest_1samp(a, 0.0)
    low, high = one.confidence_interval(0.95)
    assert (estimate.value, estimate.low, estimate.high, p_value) == pytest.approx((a.mean(), low, high, one.pvalue))
    difference, p_welch = welch(a, b)
    two = stats.ttest_ind(a, b, equal_var=False)
    low, high = two.confidence_interval(0.95)
    assert (difference.low, difference.high, p_welch) == pytest.approx((low, high, two.pvalue))


def test_mae_and_rmse_clip_and_scale() -> None:
    """MAE's lower bound is clipped at 0; RMSE of all-zero errors is [0, 0]; huge errors do not overflow."""
    assert mae(np.array([0.0, 0.0, 5.0])).low == 0.0
    assert rmse(np.zeros(4)) == Estimate(0.0, 0.0, 0.0)
    big = rmse(np.array([1e200, -1e200, 1e200]))
    assert big.value == pytest.approx(1e200) and math.isfinite(big.high or math.inf)


def test_undefined_intervals_are_none() -> None:
    """With one value there is no interval and no p-value, never NaN."""
    assert t_mean(np.array([2.0])) == (Estimate(2.0), None)
    assert welch(np.array([1.0]), np.array([2.0, 3.0])) == (Estimate(-1.5), None)
    assert rmse(np.array([3.0])) == Estimate(3.0)


def test_mcnemar_is_the_exact_binomial_test_on_discordant_pairs() -> None:
    """The p-value equals scipy's two-sided binomial test on b of b + c discordant pairs."""
    first = np.array([1, 1, 1, 1, 1, 0, 0, 1, 0, 1], dtype=float)
    second = np.array([0, 0, 0, 1, 1, 0, 1, 1, 0, 0], dtype=float)
    difference, p_value = mcnemar(first, second)
    assert difference.value == pytest.approx((4 - 1) / 10)
    assert p_value == pytest.approx(stats.binomtest(1, 5, 0.5).pvalue)
    assert mcnemar(first, first)[1] == 1.0


def test_moments_merge_exactly_and_feed_the_same_tests() -> None:
    """Merged moments equal the moments of the pooled values; welch_of on them equals scipy's from-stats test."""
    rng = np.random.default_rng(8)
    parts = [rng.normal(3.0, 1.0, size) for size in (1, 7, 40)]
    merged = moments(parts[0]).merge(moments(parts[1])).merge(moments(parts[2]))
    pooled = moments(np.concatenate(parts))
    assert merged.n == pooled.n
    assert merged.mean == pytest.approx(pooled.mean) and merged.m2 == pytest.approx(pooled.m2)
    assert moments(np.array([])).merge(merged) == merged
    a, b = np.concatenate(parts), rng.normal(2.5, 2.0, 30)
    difference, p_value = welch_of(moments(a), moments(b))
    expected = stats.ttest_ind_from_stats(a.mean(), a.std(ddof=1), a.size, b.mean(), b.std(ddof=1), b.size, False)
    assert (difference.value, p_value) == pytest.approx((a.mean() - b.mean(), expected.pvalue))
    assert t_mean_of(moments(a)) == t_mean(a)
