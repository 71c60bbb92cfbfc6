"""Properties of evaluate() over any traffic: estimates in range, p-values in [0, 1], order-free."""

from __future__ import annotations

import json
import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from registry_client.analysis.evaluation import Estimate, evaluate
from registry_client.analysis.joined import JoinedRow
from tests.support.evaluation import CANARY_AT_1, joined_row

small_labels = st.sampled_from([0, 1, 2])


@st.composite
def traffic(draw: st.DrawFn, numbers: bool = False, mirror: bool = False) -> list[JoinedRow]:
    values = st.floats(-1e3, 1e3, allow_nan=False) if numbers else small_labels
    rows = []
    for i in range(draw(st.integers(1, 30))):
        route = draw(st.sampled_from(["stable", "canary", "pinned"]))
        version = "v2" if route == "canary" else "v1"
        prediction, outcome = draw(values), draw(st.none() | values)
        latency = draw(st.floats(0.0, 5e3))
        rows.append(joined_row(f"r{i}", version, route, prediction, outcome, latency=latency))
        if mirror or draw(st.booleans()):
            shadow_prediction = prediction if mirror else draw(values)
            rows.append(joined_row(f"r{i}", "v3", route, shadow_prediction, outcome, shadow=True, latency=latency))
    return rows


def _within(estimate: Estimate | None, lowest: float = -math.inf, highest: float = math.inf) -> None:
    if estimate is None:
        return
    assert lowest <= estimate.value <= highest
    if estimate.low is not None and estimate.high is not None:
        assert lowest <= estimate.low <= estimate.value <= estimate.high <= highest


def _p(value: float | None) -> None:
    assert value is None or 0.0 <= value <= 1.0


@settings(deadline=None, max_examples=150)
@given(traffic())
def test_classification_invariants(rows: list[JoinedRow]) -> None:
    """Accuracies and differences lie in range, inside their intervals, p-values in [0, 1]."""
    report = evaluate(rows, task="classification", history=CANARY_AT_1)
    assert sum(group.rows for group in report.groups) == len(rows)
    for group in report.groups:
        assert group.outcomes <= group.rows and group.predictions <= group.rows
        _within(group.accuracy, 0.0, 1.0)
        assert group.latency_ms.p50 <= group.latency_ms.p95 <= group.latency_ms.p99
    for comparison in report.canary_vs_stable:
        _within(comparison.difference, -1.0, 1.0)
        _p(comparison.p_value)
    for shadow in report.shadows:
        assert shadow.agreement is None or 0.0 <= shadow.agreement <= 1.0
        _within(shadow.difference, -1.0, 1.0)
        _p(shadow.p_value)
    json.dumps(report.to_dict(), allow_nan=False)


@settings(deadline=None, max_examples=150)
@given(traffic(numbers=True))
def test_regression_invariants(rows: list[JoinedRow]) -> None:
    """Errors are non-negative, RMSE >= MAE, every estimate inside its interval."""
    report = evaluate(rows, task="regression", history=CANARY_AT_1)
    for group in report.groups:
        _within(group.mae, 0.0)
        _within(group.rmse, 0.0)
        if group.mae is not None and group.rmse is not None:
            assert group.rmse.value >= group.mae.value * (1 - 1e-12)
    for comparison in report.canary_vs_stable:
        _within(comparison.difference)
        _p(comparison.p_value)
    for shadow in report.shadows:
        assert shadow.mean_abs_difference is None or shadow.mean_abs_difference >= 0.0
        _within(shadow.difference)
        _p(shadow.p_value)
    json.dumps(report.to_dict(), allow_nan=False)


@settings(deadline=None)
@given(traffic(mirror=True))
def test_identical_shadow_agrees_fully(rows: list[JoinedRow]) -> None:
    """A shadow that predicts what the primary predicted agrees 100 % and differs by 0 (p = 1)."""
    (shadow,) = evaluate(rows, task="classification").shadows
    assert shadow.pairs == sum(not row.shadow for row in rows)
    assert shadow.agreement == 1.0
    if shadow.difference is not None:
        assert shadow.difference == Estimate(0.0, 0.0, 0.0)
        assert shadow.p_value == 1.0


@settings(deadline=None)
@given(traffic(numbers=True, mirror=True))
def test_identical_regression_shadow_has_no_difference(rows: list[JoinedRow]) -> None:
    """A regression shadow equal to the primary has mean absolute difference 0."""
    (shadow,) = evaluate(rows, task="regression").shadows
    assert shadow.mean_abs_difference == 0.0
    if shadow.difference is not None:
        assert shadow.difference.value == 0.0


@settings(deadline=None)
@given(traffic(), st.randoms(use_true_random=False))
def test_row_order_does_not_matter(rows: list[JoinedRow], rnd: random.Random) -> None:
    """Shuffling the rows (no duplicate keys) gives the same classification report."""
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    assert evaluate(shuffled, task="classification", history=CANARY_AT_1) == evaluate(
        rows, task="classification", history=CANARY_AT_1
    )
