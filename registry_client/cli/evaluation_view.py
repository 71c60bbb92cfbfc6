"""How ``canaryline eval`` shows an evaluation (:class:`~registry_client.analysis.report.ModelEvaluation`) in
the terminal: rich tables, then the verdict on the latest canary episode in words. The JSON is
:meth:`~registry_client.analysis.report.ModelEvaluation.to_json`.

Each canary comparison is titled with the traffic it covers: canary and stable version, the plan
revisions of the episode and its UTC time range (``canary_vs_stable`` in the JSON is the list of
comparisons, each with ``revisions``, ``since`` and ``until`` in epoch seconds, ``until`` null while
the episode is still in force).

The error rate is not in the store: the prediction log holds served predictions only (a refused or
failed request writes no record), so it is reported as not available (``null`` with a note in the
JSON) rather than computed from data that cannot show it.
"""

from __future__ import annotations

from datetime import UTC, datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from registry_client.analysis.evaluation import Comparison, EvaluationReport
from registry_client.analysis.report import ERROR_RATE_NOTE, ModelEvaluation
from registry_client.analysis.statistics import Estimate

__all__ = ["evaluation_tables"]


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _estimate(estimate: Estimate | None, digits: int = 3) -> str:
    if estimate is None:
        return "-"
    if estimate.low is None or estimate.high is None:
        return _num(estimate.value, digits)
    return f"{estimate.value:.{digits}f} [{estimate.low:.{digits}f}, {estimate.high:.{digits}f}]"


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.3g}"


def _groups(report: EvaluationReport, model: str) -> Table:
    classification = report.task == "classification"
    quality = ["accuracy (95% CI)"] if classification else ["MAE (95% CI)", "RMSE (95% CI)"]
    table = Table(
        "version",
        "route",
        "predictions",
        "rows",
        "outcomes",
        *quality,
        "p50 ms",
        "p95 ms",
        "p99 ms",
        "error rate",
        title=f"{model}: {report.task}, per version and route",
    )
    for g in report.groups:
        scores = [_estimate(g.accuracy)] if classification else [_estimate(g.mae), _estimate(g.rmse)]
        table.add_row(
            g.model_version,
            "shadow" if g.shadow else g.route,
            str(g.predictions),
            str(g.rows),
            str(g.outcomes),
            *scores,
            _num(g.latency_ms.p50, 1),
            _num(g.latency_ms.p95, 1),
            _num(g.latency_ms.p99, 1),
            "n/a",
        )
    return table


def _utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _episode(c: Comparison) -> str:
    """``canary v2 vs stable v1, revisions 2-3, <from> → <to>``: which traffic the comparison covers."""
    first, last = c.revisions[0], c.revisions[-1]
    revisions = f"revision {first}" if first == last else f"revisions {first}-{last}"
    until = "still in force" if c.until is None else _utc(c.until)
    return f"canary {c.canary_version} vs stable {c.stable_version}, {revisions}, {_utc(c.since)} → {until}"


def _comparisons(report: EvaluationReport) -> RenderableType:
    if not report.canary_vs_stable:
        return Text("canary vs stable: no canary episode with outcomes on canary and stable rows", style="dim")
    metric = "accuracy" if report.task == "classification" else "MAE"
    tables = []
    for c in report.canary_vs_stable:
        table = Table("", metric, "rows with outcomes", "p-value", title=f"{_episode(c)} ({c.test})")
        table.add_row(f"canary {c.canary_version}", _num(c.canary), str(c.n_canary), "")
        table.add_row(f"stable {c.stable_version}", _num(c.stable), str(c.n_stable), "")
        table.add_row("canary - stable (95% CI)", _estimate(c.difference), "", _p(c.p_value))
        tables.append(table)
    return Group(*tables)


def _shadows(report: EvaluationReport) -> RenderableType:
    if not report.shadows:
        return Text("shadow: no shadow records", style="dim")
    classification = report.task == "classification"
    metric = "accuracy" if classification else "MAE"
    table = Table(
        "shadow version",
        "pairs",
        "agreement" if classification else "mean |shadow - primary|",
        "paired outcomes",
        f"shadow {metric}",
        f"primary {metric}",
        "difference (95% CI)",
        "p-value",
        title=f"shadow vs primary on the same requests ({report.shadows[0].test})",
    )
    for s in report.shadows:
        table.add_row(
            s.shadow_version,
            str(s.pairs),
            _num(s.agreement if classification else s.mean_abs_difference),
            str(s.paired_outcomes),
            _num(s.shadow_value),
            _num(s.primary_value),
            _estimate(s.difference),
            _p(s.p_value),
        )
    return table


def _verdict(found: ModelEvaluation) -> Text:
    if found.verdict is None:
        return Text("verdict: none, no canary episode has outcomes on both canary and stable rows", style="dim")
    return Text(f"verdict: {found.verdict.text}", style="bold")


def evaluation_tables(found: ModelEvaluation) -> RenderableType:
    """Per version and route, canary vs stable, shadow vs primary, the error-rate note and the verdict."""
    report, model = found.report, found.model
    if not report.groups:
        return Text(f"{model}: no logged predictions in this window")
    return Group(
        _groups(report, model),
        _comparisons(report),
        _shadows(report),
        Text(f"error rate: {ERROR_RATE_NOTE}", style="dim"),
        _verdict(found),
    )
