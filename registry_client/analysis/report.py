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
from typing import Any, cast

from registry_client.analysis.evaluation import EvaluationReport, Task, evaluate
from registry_client.analysis.joined import joined_rows
from registry_client.analysis.verdict import Verdict, verdict
from registry_client.errors import EvaluationError, ModelNotFoundError
from registry_client.registry.registry import Registry

__all__ = ["ERROR_RATE_NOTE", "ModelEvaluation", "evaluate_model"]

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
    known = None if stable is None else registry.get(model, stable).task
    if known is not None and task not in (None, known):
        raise EvaluationError(f"model {model!r} is a {known} model (all its versions): --task {task} does not apply")
    if known is None and task is None:
        raise ModelNotFoundError(f"model {model!r} has no routing plan in the store: register it, or pass --task")
    chosen = cast("Task", known or task)
    rows = joined_rows(registry.store, model, since=since, until=until)
    report = evaluate(rows, task=chosen, history=registry.store.history(model))
    return ModelEvaluation(model, stable, since, until, report)
