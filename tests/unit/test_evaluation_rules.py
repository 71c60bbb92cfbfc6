"""Evaluation's rules: which rows each comparison takes, published intervals, and what is refused."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from registry_client.analysis.evaluation import Estimate, EvaluationError, EvaluationReport, evaluate
from registry_client.analysis.joined import JoinedRow
from registry_client.errors import CanarylineError
from tests.support.evaluation import CANARY_AT_1, joined_row, plan_history


def test_newcombe_interval_reproduces_the_published_examples() -> None:
    """56/70 - 48/80 and 9/10 - 3/10 give Newcombe's (1998) method-10 intervals."""
    for (k1, n1, k2, n2), (low, high) in {
        (56, 70, 48, 80): (0.0524, 0.3339),
        (9, 10, 3, 10): (0.1705, 0.8090),
    }.items():
        rows = [joined_row(f"c{i}", "v2", "canary", 1, 1 if i < k1 else 0) for i in range(n1)]
        rows += [joined_row(f"s{i}", "v1", "stable", 1, 1 if i < k2 else 0) for i in range(n2)]
        [comparison] = evaluate(rows, task="classification", history=CANARY_AT_1).canary_vs_stable
        assert (comparison.difference.low, comparison.difference.high) == pytest.approx((low, high), abs=5e-5)


def test_latency_percentiles_count_each_prediction_once() -> None:
    """A ten-row batch counts as one latency, so p50 lies between the two predictions."""
    rows = [joined_row("a", "v1", "stable", 0, None, latency=100.0, index=i) for i in range(10)]
    rows.append(joined_row("b", "v1", "stable", 0, None, latency=2.0))
    (group,) = evaluate(rows, task="classification").groups
    assert (group.predictions, group.rows, group.outcomes) == (2, 11, 0)
    assert group.latency_ms.p50 == pytest.approx(51.0)
    assert group.latency_ms.p99 == pytest.approx(np.percentile([2.0, 100.0], 99))


def test_without_outcomes_quality_and_comparison_are_none() -> None:
    """No joined outcome leaves accuracy, the canary comparison and the paired test empty."""
    rows = [joined_row("a", "v1", "stable", 0, None), joined_row("b", "v2", "canary", 1, None)]
    rows.append(joined_row("a", "v3", "stable", 0, None, shadow=True))
    report = evaluate(rows, task="classification", history=CANARY_AT_1)
    assert all(group.accuracy is None for group in report.groups)
    assert report.canary_vs_stable == []
    (shadow,) = report.shadows
    assert (shadow.pairs, shadow.agreement, shadow.paired_outcomes, shadow.difference) == (1, 1.0, 0, None)


def test_single_values_have_no_interval() -> None:
    """With one outcome per side the MAE has no interval and the Welch test no p-value."""
    rows = [joined_row("a", "v1", "stable", 1.0, 3.0), joined_row("b", "v2", "canary", 2.0, 2.5)]
    report = evaluate(rows, task="regression", history=CANARY_AT_1)
    assert report.groups[0].mae == Estimate(2.0)
    [comparison] = report.canary_vs_stable
    assert comparison.difference == Estimate(0.5 - 2.0)
    assert comparison.p_value is None


def test_pinned_traffic_is_not_part_of_the_canary_comparison() -> None:
    """Pinned and shadow rows form their own groups and never enter canary vs stable."""
    rows = [
        joined_row("a", "v1", "stable", 1, 1),
        joined_row("b", "v2", "canary", 1, 0),
        joined_row("c", "v2", "pinned", 1, 1),
    ]
    rows.append(joined_row("b", "v2", "canary", 0, 0, shadow=True))
    report = evaluate(rows, task="classification", history=CANARY_AT_1)
    [comparison] = report.canary_vs_stable
    assert (comparison.n_canary, comparison.n_stable) == (1, 1)
    assert len(report.groups) == 4


def _at(revision: int, request: str, version: str, route: str, correct: bool) -> JoinedRow:
    return dataclasses.replace(joined_row(request, version, route, 1, 1 if correct else 0), revision=revision)


def test_each_canary_episode_is_compared_with_its_own_revisions_only() -> None:
    """Stable rows from before the canary, or of the promoted canary, never enter the canary's comparison."""
    history = plan_history(("v1", None), ("v1", "v2"), ("v2", None), ("v1", None), ("v1", "v3"))
    rows = [_at(1, f"a{i}", "v1", "stable", i % 2 == 0) for i in range(10)]  # before any canary
    rows += [_at(2, f"b{i}", "v2", "canary", i < 3) for i in range(4)]
    rows += [_at(2, f"c{i}", "v1", "stable", i < 4) for i in range(5)]
    rows += [_at(3, f"d{i}", "v2", "stable", True) for i in range(8)]  # v2 promoted: stable rows of v2
    rows += [_at(5, f"e{i}", "v3", "canary", i < 1) for i in range(2)]
    rows += [_at(5, f"f{i}", "v1", "stable", i < 2) for i in range(3)]
    first, second = evaluate(rows, task="classification", history=history).canary_vs_stable
    assert (first.canary_version, first.stable_version, first.revisions) == ("v2", "v1", [2])
    assert (first.n_canary, first.n_stable, first.canary, first.stable) == (4, 5, 0.75, 0.8)
    assert (first.since, first.until) == (1_700_000_002, 1_700_000_003)
    assert (second.canary_version, second.revisions, second.n_canary, second.n_stable) == ("v3", [5], 2, 3)
    assert second.until is None


def test_without_a_history_nothing_is_compared() -> None:
    """Canary rows alone do not say which stable traffic ran next to them: no history, no comparison."""
    rows = [joined_row("a", "v1", "stable", 1, 1), joined_row("b", "v2", "canary", 1, 0)]
    assert evaluate(rows, task="classification").canary_vs_stable == []


def test_versions_are_ordered_numerically() -> None:
    """Groups and shadows list v9 before v10."""
    rows = [joined_row("a", "v10", "stable", 1, 1), joined_row("b", "v9", "stable", 1, 1)]
    rows += [joined_row("a", "v10", "stable", 1, 1, shadow=True), joined_row("a", "v9", "stable", 1, 1, shadow=True)]
    report = evaluate(rows, task="classification")
    assert [(g.model_version, g.shadow) for g in report.groups] == [
        ("v9", False),
        ("v9", True),
        ("v10", False),
        ("v10", True),
    ]
    assert [s.shadow_version for s in report.shadows] == ["v9", "v10"]


def test_rows_of_two_models_are_refused() -> None:
    """Evaluation is per model: mixing models raises a 422 EvaluationError naming both."""
    rows = [joined_row("a", "v1", "stable", 1, 1), joined_row("b", "v1", "stable", 1, 1, model="wine")]
    with pytest.raises(EvaluationError, match="'iris' and 'wine'") as caught:
        evaluate(rows, task="classification")
    assert isinstance(caught.value, CanarylineError) and caught.value.status == 422


def test_unknown_task_is_refused() -> None:
    """A task other than classification or regression raises EvaluationError."""
    with pytest.raises(EvaluationError, match="ranking"):
        evaluate([], task="ranking")  # type: ignore[arg-type]


def test_non_numeric_regression_values_name_the_row() -> None:
    """A label outcome in a regression evaluation raises EvaluationError naming the request."""
    with pytest.raises(EvaluationError, match=r"'v1'.*'req-9' row 0.*'cat'"):
        evaluate([joined_row("req-9", "v1", "stable", 1.0, "cat")], task="regression")


def test_empty_input_gives_an_empty_report() -> None:
    """No rows: no model, no groups, no comparison, no shadows."""
    assert evaluate(iter(()), task="regression") == EvaluationReport("regression", None, [], [], [])
