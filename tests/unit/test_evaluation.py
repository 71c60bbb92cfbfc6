"""Tests of per-version evaluation against independent numpy/scipy computations and invariants."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from registry_client.analysis.evaluation import Estimate, EvaluationError, EvaluationReport, evaluate
from registry_client.analysis.export import export_rows
from registry_client.analysis.joined import JoinedRow, explode
from registry_client.domain.plan import AuditEntry, Canary, Plan
from registry_client.domain.records import PredictionRecord
from registry_client.errors import CanarylineError

Z = stats.norm.ppf(0.975)
LABELS = ["setosa", "versicolor", "virginica"]


def _history(*canaries: tuple[str, str | None]) -> list[AuditEntry]:
    """Audit entries of revisions 1, 2, …: (stable, canary or None) each, one second apart."""
    entries, before = [], None
    for revision, (stable, canary) in enumerate(canaries, start=1):
        plan = Plan(
            model="iris",
            stable=stable,
            canary=None if canary is None else Canary(version=canary, weight=30),
            revision=revision,
            updated_at=datetime.fromtimestamp(1_700_000_000 + revision, UTC),
        )
        entries.append(AuditEntry.of(plan, before=before, action="create" if before is None else "canary"))
        before = plan
    return entries


#: Canary v2 over stable v1 in revision 1: the plan of every _row().
CANARY_AT_1 = _history(("v1", "v2"))
#: Stable v1, then canary v2 over it in revisions 2 and 3: the plans of _traffic(), served under revision 3.
TRAFFIC_HISTORY = _history(("v1", None), ("v1", "v2"), ("v1", "v2"))


def _row(
    request: str,
    version: str,
    route: str,
    prediction: Any,
    outcome: Any,
    *,
    shadow: bool = False,
    latency: float = 10.0,
    index: int = 0,
    prediction_id: str | None = None,
    model: str = "iris",
) -> JoinedRow:
    return JoinedRow(
        prediction_id=prediction_id or f"{'s' if shadow else 'p'}-{request}",
        request_id=request,
        ts=1_700_000_000.0,
        model=model,
        model_version=version,
        route=route,
        shadow=shadow,
        revision=1,
        row_index=index,
        inputs=[1.0, 2.0],
        prediction=prediction,
        outcome=outcome,
        latency_ms=latency,
    )


def _traffic(task: str, seed: int = 11) -> Iterator[JoinedRow]:
    """Stable v1 and canary v2 traffic, batches of one or two rows, mirrored to shadow v10."""
    rng = np.random.default_rng(seed)
    for i in range(240):
        route, version = ("canary", "v2") if i % 3 == 0 else ("stable", "v1")
        size = 2 if i % 4 == 0 else 1
        truth: list[Any]
        pred: list[Any]
        if task == "classification":
            truth = [LABELS[int(k)] for k in rng.integers(0, 3, size)]
            skill = 0.7 if route == "canary" else 0.8
            pred = [t if rng.random() < skill else LABELS[int(rng.integers(0, 3))] for t in truth]
            shadow_pred = [t if rng.random() < 0.75 else LABELS[0] for t in truth]
        else:
            truth = [float(v) for v in rng.normal(10.0, 3.0, size)]
            scale = 1.5 if route == "canary" else 1.0
            pred = [t + float(rng.normal(0.2, scale)) for t in truth]
            shadow_pred = [t + float(rng.normal(0.0, 1.2)) for t in truth]
        outcomes: list[Any] | None = None if i % 9 == 0 else list(truth)
        if outcomes is not None and i % 8 == 0:
            outcomes[0] = None
        base: dict[str, Any] = {
            "request_id": f"r{i}",
            "ts": 1_700_000_000.0 + i,
            "model": "iris",
            "route": route,
            "revision": 3,
            "inputs": [[float(i), 1.0]] * size,
            "instance": "gw-1",
        }
        latency = float(rng.gamma(2.0, 10.0))
        primary = PredictionRecord(
            prediction_id=f"p{i}",
            model_version=version,
            predictions=pred,
            latency_ms=latency,
            **base,
        )
        yield from explode(primary, outcomes)
        if i % 2 == 0:
            mirrored = PredictionRecord(
                prediction_id=f"s{i}",
                model_version="v10",
                predictions=shadow_pred,
                latency_ms=latency * 1.5,
                shadow=True,
                **base,
            )
            shadow_outcomes = list(truth) if i % 9 == 0 and i % 4 else outcomes
            yield from explode(mirrored, shadow_outcomes)


def _exported(tmp_path: Path, task: str) -> tuple[EvaluationReport, list[dict[str, Any]]]:
    """Evaluate the traffic, and hand back the rows an analyst would read from the export."""
    path = tmp_path / "rows.jsonl"
    export_rows(_traffic(task), path)
    rows = [orjson.loads(line) for line in path.read_bytes().splitlines()]
    return evaluate(_traffic(task), task=task, history=TRAFFIC_HISTORY), rows  # type: ignore[arg-type]


def _close(estimate: Estimate | None, value: float, low: float, high: float) -> None:
    assert estimate is not None
    assert estimate.value == pytest.approx(value, rel=1e-9, abs=1e-12)
    assert estimate.low == pytest.approx(low, rel=1e-9, abs=1e-12)
    assert estimate.high == pytest.approx(high, rel=1e-9, abs=1e-12)


def _paired_rows(rows: list[dict[str, Any]], version: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    primary = {(r["request_id"], r["row_index"]): r for r in rows if not r["shadow"]}
    shadow = [r for r in rows if r["shadow"] and r["model_version"] == version]
    return [
        (s, primary[s["request_id"], s["row_index"]]) for s in shadow if (s["request_id"], s["row_index"]) in primary
    ]


def _group_rows(rows: list[dict[str, Any]], key: tuple[str, str, bool]) -> list[dict[str, Any]]:
    return [r for r in rows if (r["model_version"], r["route"], r["shadow"]) == key]


def _check_groups_by_hand(report: EvaluationReport, rows: list[dict[str, Any]]) -> None:
    keys = {(r["model_version"], r["route"], r["shadow"]) for r in rows}
    assert {(g.model_version, g.route, g.shadow) for g in report.groups} == keys
    for group in report.groups:
        mine = _group_rows(rows, (group.model_version, group.route, group.shadow))
        assert group.rows == len(mine)
        assert group.predictions == len({r["prediction_id"] for r in mine})
        assert group.outcomes == sum(r["outcome"] is not None for r in mine)
        per_prediction = {r["prediction_id"]: r["latency_ms"] for r in mine}
        expected = np.percentile(list(per_prediction.values()), [50, 95, 99], method="linear")
        got = (group.latency_ms.p50, group.latency_ms.p95, group.latency_ms.p99)
        assert got == pytest.approx(tuple(expected))


def test_classification_groups_match_a_hand_computation(tmp_path: Path) -> None:
    """Counts, accuracy with its Wilson interval and per-prediction latency match scipy/numpy."""
    report, rows = _exported(tmp_path, "classification")
    _check_groups_by_hand(report, rows)
    for group in report.groups:
        key = (group.model_version, group.route, group.shadow)
        mine = [r for r in _group_rows(rows, key) if r["outcome"] is not None]
        correct = sum(r["prediction"] == r["outcome"] for r in mine)
        interval = stats.binomtest(correct, len(mine)).proportion_ci(0.95, method="wilson")
        _close(group.accuracy, correct / len(mine), interval.low, interval.high)
        assert group.mae is None and group.rmse is None
    assert [(g.model_version, g.route, g.shadow) for g in report.groups] == [
        ("v1", "stable", False),
        ("v2", "canary", False),
        ("v10", "canary", True),
        ("v10", "stable", True),
    ]


def test_classification_canary_vs_stable_matches_a_hand_computation(tmp_path: Path) -> None:
    """The accuracy difference, its Newcombe interval and the z-test p-value match scipy."""
    report, rows = _exported(tmp_path, "classification")
    counts = {}
    for route in ("canary", "stable"):
        mine = [r for r in rows if r["route"] == route and not r["shadow"] and r["outcome"] is not None]
        counts[route] = (sum(r["prediction"] == r["outcome"] for r in mine), len(mine))
    (k1, n1), (k2, n2) = counts["canary"], counts["stable"]
    l1, u1 = stats.binomtest(k1, n1).proportion_ci(method="wilson")
    l2, u2 = stats.binomtest(k2, n2).proportion_ci(method="wilson")
    p1, p2 = k1 / n1, k2 / n2
    low = p1 - p2 - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = p1 - p2 + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    chi2 = stats.chi2_contingency([[k1, n1 - k1], [k2, n2 - k2]], correction=False)
    [comparison] = report.canary_vs_stable
    assert (comparison.n_canary, comparison.n_stable) == (n1, n2)
    assert (comparison.canary, comparison.stable) == pytest.approx((p1, p2))
    _close(comparison.difference, p1 - p2, low, high)
    assert comparison.p_value == pytest.approx(chi2.pvalue, rel=1e-9)
    assert (comparison.canary_version, comparison.stable_version, comparison.revisions) == ("v2", "v1", [2, 3])
    assert (comparison.since, comparison.until) == (1_700_000_002, None)


def test_classification_shadow_matches_a_hand_computation(tmp_path: Path) -> None:
    """Agreement, the paired difference, its Wald interval and McNemar's exact p match scipy."""
    report, rows = _exported(tmp_path, "classification")
    pairs = _paired_rows(rows, "v10")
    (shadow,) = report.shadows
    assert shadow.shadow_version == "v10"
    assert shadow.pairs == len(pairs)
    assert shadow.agreement == pytest.approx(np.mean([s["prediction"] == p["prediction"] for s, p in pairs]))
    judged = [(s, p, p["outcome"] if p["outcome"] is not None else s["outcome"]) for s, p in pairs]
    hits = [(s["prediction"] == o, p["prediction"] == o) for s, p, o in judged if o is not None]
    n = len(hits)
    b = sum(s and not p for s, p in hits)
    c = sum(p and not s for s, p in hits)
    p10, p01 = b / n, c / n
    se = math.sqrt((p10 + p01 - (p10 - p01) ** 2) / n)
    assert shadow.paired_outcomes == n
    assert (shadow.shadow_value, shadow.primary_value) == pytest.approx(
        (np.mean([s for s, _ in hits]), np.mean([p for _, p in hits]))
    )
    _close(shadow.difference, p10 - p01, p10 - p01 - Z * se, p10 - p01 + Z * se)
    assert shadow.p_value == pytest.approx(stats.binomtest(b, b + c, 0.5).pvalue, rel=1e-9)
    assert shadow.mean_abs_difference is None


def test_regression_groups_match_a_hand_computation(tmp_path: Path) -> None:
    """MAE with its t interval and RMSE with its delta-method interval match scipy/numpy."""
    report, rows = _exported(tmp_path, "regression")
    _check_groups_by_hand(report, rows)
    for group in report.groups:
        key = (group.model_version, group.route, group.shadow)
        mine = [r for r in _group_rows(rows, key) if r["outcome"] is not None]
        errors = np.array([r["prediction"] - r["outcome"] for r in mine])
        mae_ci = stats.ttest_1samp(np.abs(errors), 0.0).confidence_interval(0.95)
        _close(group.mae, np.abs(errors).mean(), mae_ci.low, mae_ci.high)
        rmse = math.sqrt(np.mean(errors**2))
        se = np.std(errors**2, ddof=1) / (2 * rmse * math.sqrt(len(errors)))
        _close(group.rmse, rmse, rmse - Z * se, rmse + Z * se)
        assert group.accuracy is None


def test_regression_canary_vs_stable_is_welch_on_absolute_errors(tmp_path: Path) -> None:
    """The MAE difference, its interval and p-value equal scipy's Welch t-test."""
    report, rows = _exported(tmp_path, "regression")
    errors = {
        route: np.array(
            [
                abs(r["prediction"] - r["outcome"])
                for r in rows
                if r["route"] == route and not r["shadow"] and r["outcome"] is not None
            ]
        )
        for route in ("canary", "stable")
    }
    welch = stats.ttest_ind(errors["canary"], errors["stable"], equal_var=False)
    interval = welch.confidence_interval(0.95)
    [comparison] = report.canary_vs_stable
    diff = errors["canary"].mean() - errors["stable"].mean()
    _close(comparison.difference, diff, interval.low, interval.high)
    assert comparison.p_value == pytest.approx(welch.pvalue, rel=1e-9)
    assert comparison.canary == pytest.approx(errors["canary"].mean())


def test_regression_shadow_is_a_paired_t_test(tmp_path: Path) -> None:
    """Mean |shadow - primary| and the paired t-test on absolute errors equal scipy's."""
    report, rows = _exported(tmp_path, "regression")
    pairs = _paired_rows(rows, "v10")
    (shadow,) = report.shadows
    assert shadow.agreement is None
    assert shadow.mean_abs_difference == pytest.approx(
        np.mean([abs(s["prediction"] - p["prediction"]) for s, p in pairs])
    )
    judged = [(s, p, p["outcome"] if p["outcome"] is not None else s["outcome"]) for s, p in pairs]
    abs_s = np.array([abs(s["prediction"] - o) for s, _, o in judged if o is not None])
    abs_p = np.array([abs(p["prediction"] - o) for _, p, o in judged if o is not None])
    paired = stats.ttest_rel(abs_s, abs_p)
    interval = paired.confidence_interval(0.95)
    _close(shadow.difference, (abs_s - abs_p).mean(), interval.low, interval.high)
    assert shadow.p_value == pytest.approx(paired.pvalue, rel=1e-9)
    assert (shadow.shadow_value, shadow.primary_value) == pytest.approx((abs_s.mean(), abs_p.mean()))


def test_newcombe_interval_reproduces_the_published_examples() -> None:
    """56/70 - 48/80 and 9/10 - 3/10 give Newcombe's (1998) method-10 intervals."""
    for (k1, n1, k2, n2), (low, high) in {
        (56, 70, 48, 80): (0.0524, 0.3339),
        (9, 10, 3, 10): (0.1705, 0.8090),
    }.items():
        rows = [_row(f"c{i}", "v2", "canary", 1, 1 if i < k1 else 0) for i in range(n1)]
        rows += [_row(f"s{i}", "v1", "stable", 1, 1 if i < k2 else 0) for i in range(n2)]
        [comparison] = evaluate(rows, task="classification", history=CANARY_AT_1).canary_vs_stable
        assert (comparison.difference.low, comparison.difference.high) == pytest.approx((low, high), abs=5e-5)


def test_latency_percentiles_count_each_prediction_once() -> None:
    """A ten-row batch counts as one latency, so p50 lies between the two predictions."""
    rows = [_row("a", "v1", "stable", 0, None, latency=100.0, index=i) for i in range(10)]
    rows.append(_row("b", "v1", "stable", 0, None, latency=2.0))
    (group,) = evaluate(rows, task="classification").groups
    assert (group.predictions, group.rows, group.outcomes) == (2, 11, 0)
    assert group.latency_ms.p50 == pytest.approx(51.0)
    assert group.latency_ms.p99 == pytest.approx(np.percentile([2.0, 100.0], 99))


def test_without_outcomes_quality_and_comparison_are_none() -> None:
    """No joined outcome leaves accuracy, the canary comparison and the paired test empty."""
    rows = [_row("a", "v1", "stable", 0, None), _row("b", "v2", "canary", 1, None)]
    rows.append(_row("a", "v3", "stable", 0, None, shadow=True))
    report = evaluate(rows, task="classification", history=CANARY_AT_1)
    assert all(group.accuracy is None for group in report.groups)
    assert report.canary_vs_stable == []
    (shadow,) = report.shadows
    assert (shadow.pairs, shadow.agreement, shadow.paired_outcomes, shadow.difference) == (1, 1.0, 0, None)


def test_single_values_have_no_interval() -> None:
    """With one outcome per side the MAE has no interval and the Welch test no p-value."""
    rows = [_row("a", "v1", "stable", 1.0, 3.0), _row("b", "v2", "canary", 2.0, 2.5)]
    report = evaluate(rows, task="regression", history=CANARY_AT_1)
    assert report.groups[0].mae == Estimate(2.0)
    [comparison] = report.canary_vs_stable
    assert comparison.difference == Estimate(0.5 - 2.0)
    assert comparison.p_value is None


def test_pinned_traffic_is_not_part_of_the_canary_comparison() -> None:
    """Pinned and shadow rows form their own groups and never enter canary vs stable."""
    rows = [_row("a", "v1", "stable", 1, 1), _row("b", "v2", "canary", 1, 0), _row("c", "v2", "pinned", 1, 1)]
    rows.append(_row("b", "v2", "canary", 0, 0, shadow=True))
    report = evaluate(rows, task="classification", history=CANARY_AT_1)
    [comparison] = report.canary_vs_stable
    assert (comparison.n_canary, comparison.n_stable) == (1, 1)
    assert len(report.groups) == 4


def _at(revision: int, request: str, version: str, route: str, correct: bool) -> JoinedRow:
    return dataclasses.replace(_row(request, version, route, 1, 1 if correct else 0), revision=revision)


def test_each_canary_episode_is_compared_with_its_own_revisions_only() -> None:
    """Stable rows from before the canary, or of the promoted canary, never enter the canary's comparison."""
    history = _history(("v1", None), ("v1", "v2"), ("v2", None), ("v1", None), ("v1", "v3"))
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
    rows = [_row("a", "v1", "stable", 1, 1), _row("b", "v2", "canary", 1, 0)]
    assert evaluate(rows, task="classification").canary_vs_stable == []


def test_versions_are_ordered_numerically() -> None:
    """Groups and shadows list v9 before v10."""
    rows = [_row("a", "v10", "stable", 1, 1), _row("b", "v9", "stable", 1, 1)]
    rows += [_row("a", "v10", "stable", 1, 1, shadow=True), _row("a", "v9", "stable", 1, 1, shadow=True)]
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
    rows = [_row("a", "v1", "stable", 1, 1), _row("b", "v1", "stable", 1, 1, model="wine")]
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
        evaluate([_row("req-9", "v1", "stable", 1.0, "cat")], task="regression")


def test_empty_input_gives_an_empty_report() -> None:
    """No rows: no model, no groups, no comparison, no shadows."""
    assert evaluate(iter(()), task="regression") == EvaluationReport("regression", None, [], [], [])


def test_evaluate_consumes_a_generator_once() -> None:
    """evaluate() streams: a one-shot generator is enough."""
    report = evaluate(_traffic("classification"), task="classification")
    assert sum(group.rows for group in report.groups) == sum(1 for _ in _traffic("classification"))


# --- properties ---------------------------------------------------------------------------

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
        rows.append(_row(f"r{i}", version, route, prediction, outcome, latency=latency))
        if mirror or draw(st.booleans()):
            shadow_prediction = prediction if mirror else draw(values)
            rows.append(_row(f"r{i}", "v3", route, shadow_prediction, outcome, shadow=True, latency=latency))
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
