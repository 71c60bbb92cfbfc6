"""Per-version evaluation of exported traffic against independent numpy/scipy computations, by hand."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from scipy import stats

from registry_client.analysis.evaluation import Estimate, EvaluationReport, evaluate
from registry_client.analysis.export import export_rows
from registry_client.analysis.joined import JoinedRow, explode
from registry_client.domain.records import PredictionRecord
from tests.support.evaluation import plan_history

Z = stats.norm.ppf(0.975)
LABELS = ["setosa", "versicolor", "virginica"]


#: Stable v1, then canary v2 over it in revisions 2 and 3: the plans of _traffic(), served under revision 3.
TRAFFIC_HISTORY = plan_history(("v1", None), ("v1", "v2"), ("v1", "v2"))


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


def test_evaluate_consumes_a_generator_once() -> None:
    """evaluate() streams: a one-shot generator is enough."""
    report = evaluate(_traffic("classification"), task="classification")
    assert sum(group.rows for group in report.groups) == sum(1 for _ in _traffic("classification"))
