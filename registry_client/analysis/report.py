"""One model's evaluation as ``canaryline eval --json`` prints it and ``GET /models/{name}/evaluation`` answers.

:func:`evaluate_model` reads the store (the prediction log joined with its outcomes, and the plan history),
finds the task (the stable version's, from the registry, unless given) and evaluates
(:func:`~registry_client.analysis.evaluation.evaluate`); :meth:`ModelEvaluation.to_json` adds the window,
the stable version, the verdict on the latest canary episode (:mod:`registry_client.analysis.verdict`) and
the error-rate note. The CLI and the gateway both call these, so the console draws exactly what
``eval --json`` reports.

The error rate is not in the store: the prediction log holds served predictions only (a refused or failed
request writes no record), so it is reported as not available (``null`` with a note) rather than computed
from data that cannot show it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, cast

from registry_client.analysis.aggregated import evaluate_store
from registry_client.analysis.evaluation import EvaluationReport, Task
from registry_client.analysis.verdict import Verdict, verdict
from registry_client.errors import EvaluationError, ModelNotFoundError
from registry_client.registry.registry import Registry
from registry_client.store import BoundedLog, LogBounds

__all__ = ["ERROR_RATE_NOTE", "ModelEvaluation", "evaluate_model", "model_task", "trimmed_history_warning"]

ERROR_RATE_NOTE = (
    "not available from the store: the prediction log records served predictions only, "
    "failed or refused requests write no record"
)


@dataclass(frozen=True, slots=True)
class ModelEvaluation:
    """An evaluation report with what it was computed over."""

    model: str
    stable: str | None
    since: float | None
    until: float | None
    report: EvaluationReport
    #: Such as history a bounded store (Redis) no longer holds for the window.
    warnings: tuple[str, ...] = ()

    @property
    def verdict(self) -> Verdict | None:
        """The latest canary episode in words; None without a comparison."""
        if not self.report.canary_vs_stable:
            return None
        return verdict(self.report.canary_vs_stable[-1], self.report.task)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON values, with the window, the stable version, the verdict and the error-rate note."""
        body = self.report.to_dict()
        for group in body["groups"]:
            group["error_rate"] = None
        found = self.verdict
        return {
            "model": self.model,
            "task": self.report.task,
            "stable_version": self.stable,
            "since": self.since,
            "until": self.until,
            "groups": body["groups"],
            "canary_vs_stable": body["canary_vs_stable"],
            "shadows": body["shadows"],
            "verdict": None if found is None else asdict(found),
            "error_rate": None,
            "notes": {"error_rate": ERROR_RATE_NOTE},
            "warnings": list(self.warnings),
        }


def evaluate_model(
    registry: Registry,
    model: str,
    *,
    since: float | None = None,
    until: float | None = None,
    task: Task | None = None,
) -> ModelEvaluation:
    """Evaluate ``model`` over predictions in ``[since, until)``; the task is the stable version's unless
    ``task`` is given (every version of a model has the same task, so a different one is refused)."""
    stable = registry.stable(model)
    chosen = model_task(registry, model, task)
    store = registry.store
    report = evaluate_store(store, model, task=chosen, since=since, until=until)
    warning = (
        trimmed_history_warning(store.log_bounds(model), model=model, since=since)
        if isinstance(store, BoundedLog)
        else None
    )
    return ModelEvaluation(model, stable, since, until, report, () if warning is None else (warning,))


def model_task(registry: Registry, model: str, task: Task | None = None) -> Task:
    """The task of ``model``'s stable version; ``task`` when the model has no plan (every version of a model
    has the same task, so a different one is refused)."""
    stable = registry.stable(model)
    known = None if stable is None else registry.get(model, stable).task
    if known is not None and task not in (None, known):
        raise EvaluationError(f"model {model!r} is a {known} model (all its versions): --task {task} does not apply")
    if known is None and task is None:
        raise ModelNotFoundError(f"model {model!r} has no routing plan in the store: register it, or pass --task")
    return cast("Task", known or task)


def trimmed_history_warning(bounds: LogBounds, *, model: str, since: float | None) -> str | None:
    """A warning when the window starts before the oldest record a bounded log still holds, after it trimmed
    some: those predictions are gone, so the report covers less than the window asks for."""
    if bounds.trimmed == 0 or bounds.oldest_ts is None or (since is not None and since >= bounds.oldest_ts):
        return None
    oldest = datetime.fromtimestamp(bounds.oldest_ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"the window reaches past the oldest record the store still holds for {model!r} ({oldest}): "
        f"it keeps about {bounds.max_records:,} records per model and has trimmed {bounds.trimmed:,}, and keeps "
        f"outcomes {bounds.outcome_ttl_s / 86400:g} days, so older predictions are not in this report; "
        "for history, use the PostgreSQL store (CANARYLINE_STORE=postgresql://…)"
    )
