"""The statistics behind evaluation: proportions, means and their two-sided 95 % intervals.

Thin wrappers over SciPy, over counts and ``float64`` arrays; none knows what a row or a version is
(:mod:`registry_client.analysis.evaluation` does the grouping). What the wrappers add is the project's contract:
a statistic that is undefined (fewer than two values, a zero standard error) is ``None``, never NaN, and
an interval is an :class:`Estimate`. The methods:

* :func:`wilson`: Wilson score interval of a proportion, no continuity correction
  (``scipy.stats.binomtest(...).proportion_ci(method="wilson")``);
* :func:`t_mean`: mean with its t interval (n - 1 degrees of freedom) and the p-value of mean = 0
  (``scipy.stats.ttest_1samp``);
* :func:`mae`: the t interval on absolute errors, lower bound clipped at 0;
* :func:`rmse`: delta method, ``se(RMSE) = se(mean squared error) / (2 RMSE)`` with the normal
  quantile, lower bound clipped at 0 (``[0, 0]`` when every error is 0) — SciPy has no RMSE interval;
* :func:`two_proportions`: p1 - p2 with the Newcombe hybrid score interval (his method 10, built
  from SciPy's two Wilson intervals; SciPy has no Newcombe interval) and the pooled two-proportion
  z-test p-value;
* :func:`welch`: mean(a) - mean(b) with the Welch-Satterthwaite t interval and Welch's t-test
  (``scipy.stats.ttest_ind(equal_var=False)``);
* :func:`mcnemar`: paired difference of proportions with its Wald interval and the exact McNemar
  p-value (``scipy.stats.binomtest`` on the discordant pairs).

Each test on values has a twin on summaries (``*_of``: :class:`~registry_client.domain.aggregates.Moments`
or counts), for stores that aggregate in their own engine; the twin holds the formula and the array
version computes the summary and calls it, so both give the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from registry_client.domain.aggregates import Moments

__all__ = [
    "Z95",
    "Estimate",
    "mae",
    "mae_of",
    "mcnemar",
    "mcnemar_of",
    "moments",
    "rmse",
    "rmse_of",
    "t_mean",
    "t_mean_of",
    "two_proportions",
    "welch",
    "welch_of",
    "wilson",
    "wilson_bounds",
]

Array = npt.NDArray[np.float64]
#: The two-sided 95 % normal quantile.
Z95 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True, slots=True)
class Estimate:
    """A point estimate and its 95 % interval (``None`` bounds: the interval is undefined)."""

    value: float
    low: float | None = None
    high: float | None = None


def wilson_bounds(successes: int, n: int) -> tuple[float, float, float]:
    """The proportion and its Wilson score interval, as ``(p, low, high)``; ``n`` must be positive."""
    interval = stats.binomtest(successes, n).proportion_ci(confidence_level=0.95, method="wilson")
    p = successes / n
    # min/max only guard the point estimate against rounding at p = 0 or 1.
    return p, max(0.0, min(p, float(interval.low))), min(1.0, max(p, float(interval.high)))


def wilson(successes: int, n: int) -> Estimate:
    return Estimate(*wilson_bounds(successes, n))


def moments(values: Array) -> Moments:
    """The count, mean and sum of squared deviations of ``values``."""
    if values.size == 0:
        return Moments(0, 0.0, 0.0)
    mean = float(values.mean())
    return Moments(int(values.size), mean, float(np.sum((values - mean) ** 2)))


def _sd(m: Moments) -> float:
    return math.sqrt(max(0.0, m.m2) / (m.n - 1))


def t_mean_of(m: Moments) -> tuple[Estimate, float | None]:
    """Mean with its t interval (n - 1 degrees of freedom), and the two-sided p-value of mean = 0."""
    if m.n < 2:
        return Estimate(m.mean), None
    sd = _sd(m)
    if sd == 0:
        return Estimate(m.mean, m.mean, m.mean), None
    se = sd / math.sqrt(m.n)
    half = float(stats.t.ppf(0.975, m.n - 1)) * se
    p_value = float(2 * stats.t.sf(abs(m.mean / se), m.n - 1))
    return Estimate(m.mean, m.mean - half, m.mean + half), p_value


def t_mean(values: Array) -> tuple[Estimate, float | None]:
    """Mean with its t interval, and the two-sided p-value of mean = 0."""
    return t_mean_of(moments(values))


def mae_of(abs_errors: Moments) -> Estimate:
    """Mean absolute error from the moments of |error|, with its t interval, the lower bound clipped at 0."""
    estimate = t_mean_of(abs_errors)[0]
    return estimate if estimate.low is None else Estimate(estimate.value, max(0.0, estimate.low), estimate.high)


def mae(errors: Array) -> Estimate:
    """Mean absolute error with its t interval, the lower bound clipped at 0."""
    return mae_of(moments(np.abs(errors)))


def rmse_of(squares: Moments, scale: float = 1.0) -> Estimate:
    """RMSE from the moments of (error / scale)², with its delta-method interval:
    ``se(RMSE) = sd(e**2) / (2 RMSE sqrt(n))``."""
    if squares.mean == 0:
        return Estimate(0.0) if squares.n < 2 else Estimate(0.0, 0.0, 0.0)
    value = math.sqrt(squares.mean)
    if squares.n < 2:
        return Estimate(scale * value)
    se = _sd(squares) / (2 * value * math.sqrt(squares.n))
    return Estimate(scale * value, scale * max(0.0, value - Z95 * se), scale * (value + Z95 * se))


def rmse(errors: Array) -> Estimate:
    """RMSE with its delta-method interval, computed on errors / max|error| to avoid under- and overflow."""
    scale = float(np.abs(errors).max())
    if scale == 0:
        return Estimate(0.0) if errors.size < 2 else Estimate(0.0, 0.0, 0.0)
    return rmse_of(moments((errors / scale) ** 2), scale)


def two_proportions(k1: int, n1: int, k2: int, n2: int) -> tuple[Estimate, float]:
    """p1 - p2 with the Newcombe hybrid score interval, and the pooled z-test p-value."""
    (p1, l1, u1), (p2, l2, u2) = wilson_bounds(k1, n1), wilson_bounds(k2, n2)
    d = p1 - p2
    low, high = d - math.hypot(p1 - l1, u2 - p2), d + math.hypot(u1 - p1, p2 - l2)
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = 1.0 if se == 0 else float(2 * stats.norm.sf(abs(d) / se))
    return Estimate(d, low, high), p_value


def welch_of(a: Moments, b: Moments) -> tuple[Estimate, float | None]:
    """mean(a) - mean(b) with the Welch-Satterthwaite t interval, and the Welch t-test p-value."""
    d = a.mean - b.mean
    if a.n < 2 or b.n < 2:
        return Estimate(d), None
    va, vb = _sd(a) ** 2 / a.n, _sd(b) ** 2 / b.n
    if va + vb == 0:
        return Estimate(d), None
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.n - 1) + vb**2 / (b.n - 1))
    half = float(stats.t.ppf(0.975, df)) * se
    return Estimate(d, d - half, d + half), float(2 * stats.t.sf(abs(d) / se, df))


def welch(a: Array, b: Array) -> tuple[Estimate, float | None]:
    """mean(a) - mean(b) with the Welch t interval, and the Welch t-test p-value."""
    return welch_of(moments(a), moments(b))


def mcnemar_of(n: int, b: int, c: int) -> tuple[Estimate, float]:
    """Paired difference of proportions over ``n`` pairs, ``b`` with only the first right and ``c`` with only
    the second: the Wald interval, and the exact McNemar p-value."""
    d = (b - c) / n
    se = math.sqrt(max(0.0, b + c - (b - c) ** 2 / n)) / n
    p_value = 1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue)
    return Estimate(d, max(-1.0, d - Z95 * se), min(1.0, d + Z95 * se)), p_value


def mcnemar(first: Array, second: Array) -> tuple[Estimate, float]:
    """Paired difference of proportions first - second over 0/1 arrays of the same pairs: the Wald
    interval, and the exact McNemar p-value."""
    b = int(np.sum((first == 1) & (second == 0)))
    c = int(np.sum((first == 0) & (second == 1)))
    return mcnemar_of(first.size, b, c)
