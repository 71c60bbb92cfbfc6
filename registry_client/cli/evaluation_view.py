"""How ``canaryline eval`` shows an evaluation report
(:class:`~registry_client.analysis.evaluation.EvaluationReport`): JSON and rich tables.

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
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from registry_client.analysis.evaluation import Comparison, EvaluationReport
from registry_client.analysis.statistics import Estimate
from registry_client.store import LogBounds

__all__ = ["ERROR_RATE_NOTE", "evaluation_json", "evaluation_tables", "trimmed_history_warning"]

ERROR_RATE_NOTE = (
    "not available from the store: the prediction log records served predictions only, "
    "failed or refused requests write no record"
)


def evaluation_json(
    report: EvaluationReport,
    *,
    model: str,
    stable: str | None,
    since: float | None,
    until: float | None,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """The report as JSON values, with the window, the stable version, the error-rate note and any warnings
    (such as history the store no longer holds)."""
    body = report.to_dict()
    for group in body["groups"]:
        group["error_rate"] = None
    return {
        "model": model,
        "task": report.task,
        "stable_version": stable,
        "since": since,
        "until": until,
        "groups": body["groups"],
        "canary_vs_stable": body["canary_vs_stable"],
        "shadows": body["shadows"],
        "error_rate": None,
        "notes": {"error_rate": ERROR_RATE_NOTE},
        "warnings": list(warnings or []),
    }


def trimmed_history_warning(bounds: LogBounds, *, model: str, since: float | None) -> str | None:
    """A warning when the window starts before the oldest record a bounded log still holds, after it trimmed
    some: those predictions are gone, so the report covers less than the window asks for."""
    if bounds.trimmed == 0 or bounds.oldest_ts is None or (since is not None and since >= bounds.oldest_ts):
        return None
    return (
        f"the window reaches past the oldest record the store still holds for {model!r} ({_utc(bounds.oldest_ts)}): "
        f"it keeps about {bounds.max_records:,} records per model and has trimmed {bounds.trimmed:,}, and keeps "
        f"outcomes {bounds.outcome_ttl_s / 86400:g} days, so older predictions are not in this report; "
        "for history, use the PostgreSQL store (CANARYLINE_STORE=postgresql://…)"
    )


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


def evaluation_tables(report: EvaluationReport, *, model: str) -> RenderableType:
    """Per version and route, canary vs stable, and shadow vs primary, with the error-rate note."""
    if not report.groups:
        return Text(f"{model}: no logged predictions in this window")
    return Group(
        _groups(report, model),
        _comparisons(report),
        _shadows(report),
        Text(f"error rate: {ERROR_RATE_NOTE}", style="dim"),
    )
