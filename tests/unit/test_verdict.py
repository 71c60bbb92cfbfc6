"""The verdict sentence: direction from the interval, sizes in points, and the outcomes still needed."""

from __future__ import annotations

import numpy as np
import pytest

from registry_client.analysis.evaluation import Comparison
from registry_client.analysis.statistics import Estimate, two_proportions, welch
from registry_client.analysis.verdict import verdict


def _accuracy(k1: int, n1: int, k2: int, n2: int) -> Comparison:
    difference, p_value = two_proportions(k1, n1, k2, n2)
    return Comparison("z", "v2", "v1", [2], 0.0, None, n1, n2, k1 / n1, k2 / n2, difference, p_value)


def test_a_worse_canary_is_named_with_its_interval_as_a_drop() -> None:
    """70/101 vs 740/880 is worse: the drop and its interval are positive points, the smaller bound first."""
    c = _accuracy(70, 101, 740, 880)
    found = verdict(c, "classification")
    drop, low, high = -c.difference.value * 100, -c.difference.high * 100, -c.difference.low * 100  # type: ignore[operator]
    assert found.direction == "worse"
    assert found.text.startswith(f"v2 is worse than v1 by {drop:.1f} points (95 % CI {low:.1f}–{high:.1f})")
    assert "on 101 vs 880 labelled rows" in found.text


def test_a_better_canary_and_an_undecided_one() -> None:
    """A canary whose interval lies above zero is better; one whose interval holds zero is not told apart."""
    assert verdict(_accuracy(95, 100, 700, 1000), "classification").direction == "better"
    undecided = verdict(_accuracy(85, 100, 840, 1000), "classification")
    assert undecided.direction == "undecided" and "not told apart" in undecided.text


def test_the_outcomes_needed_follow_the_square_of_the_width_ratio() -> None:
    """Halving the half-width takes four times the rows: n (h / t)² − n more, rounded up to two figures."""
    c = _accuracy(70, 101, 740, 880)
    assert c.difference.low is not None and c.difference.high is not None
    half = (c.difference.high - c.difference.low) / 2
    n = 101 + 880
    exact = n * (half / 0.01) ** 2 - n
    found = verdict(c, "classification")
    assert found.more_outcomes is not None and exact <= found.more_outcomes <= exact * 1.1
    assert f"about {found.more_outcomes:,} more outcomes would narrow this to ±1 point" in found.text


def test_a_narrow_interval_needs_no_more_and_no_interval_cannot_be_sized() -> None:
    """An interval already within ±1 point says so; a comparison without an interval says it cannot be sized."""
    narrow = Comparison("z", "v2", "v1", [2], 0.0, None, 10**6, 10**6, 0.9, 0.9, Estimate(0.0, -0.002, 0.002), 1.0)
    assert verdict(narrow, "classification").more_outcomes == 0
    bare = Comparison("z", "v2", "v1", [2], 0.0, None, 1, 1, 1.0, 0.0, Estimate(1.0), None)
    assert verdict(bare, "classification").more_outcomes is None
    assert "too few outcomes" in verdict(bare, "classification").text


def test_regression_calls_a_higher_mae_worse_and_sizes_for_a_tenth_of_the_stable_mae() -> None:
    """For MAE lower is better: a canary with larger errors is worse, and the target is stable MAE / 10."""
    rng = np.random.default_rng(5)
    canary, stable = np.abs(rng.normal(0, 12, 300)), np.abs(rng.normal(0, 8, 900))
    difference, p_value = welch(canary, stable)
    c = Comparison(
        "welch", "v2", "v1", [2], 0.0, None, 300, 900, float(canary.mean()), float(stable.mean()), difference, p_value
    )
    found = verdict(c, "regression")
    assert found.direction == "worse" and found.text.startswith("v2 is worse than v1 in MAE by")
    assert found.target == pytest.approx(stable.mean() / 10)
