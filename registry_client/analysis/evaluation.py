"""Per-version evaluation of joined rows: quality, latency, canary vs stable, and shadow versions.

:func:`evaluate` streams over :class:`~registry_client.analysis.joined.JoinedRow` values of one model,
keeping only per-group scores and latencies plus one ``(prediction, outcome)`` pair per row for
the shadow join. Every interval is a two-sided 95 % interval; a statistic that is undefined (no
data, fewer than two values, a zero standard error) is ``None``, never NaN. The formulas are in
:mod:`registry_client.analysis.statistics`; what each one is applied to:

* accuracy (``prediction == outcome``): Wilson score interval;
* MAE: t interval on the absolute errors; RMSE: delta-method interval;
* latency p50/p95/p99: one latency per distinct ``prediction_id`` (a batch counts once), by
  :func:`numpy.percentile` with its default ``"linear"`` method (Hyndman-Fan type 7);
* canary - stable, once per canary episode of the plan history
  (:mod:`registry_client.domain.canary_episodes`): the canary version's ``canary``-route rows against the
  stable version's ``stable``-route rows, primary rows of the episode's revisions only, so both arms
  are concurrent traffic next to the same baseline. Episodes are reported oldest first, and only
  those with outcomes on both arms. For accuracy a pooled two-proportion z test and the Newcombe
  hybrid score interval; for MAE a Welch t-test on absolute errors with the Welch-Satterthwaite t
  interval;
* shadow versions: each shadow row is matched with the primary row of the same
  ``(request_id, row_index)`` (the first row seen wins on duplicates). Agreement is the share of
  equal predictions (classification) or the mean absolute difference of the predictions
  (regression). The paired difference shadow - primary uses the primary row's outcome, else the
  shadow row's: exact McNemar test (binomial on the discordant pairs) with a Wald interval of the
  paired difference of proportions, or a paired t-test on absolute errors with its t interval.

A task that is unknown, rows of several models or non-numeric regression values are an
:class:`~registry_client.errors.EvaluationError`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from registry_client.analysis.joined import JoinedRow
from registry_client.analysis.statistics import Estimate, mae, mcnemar, rmse, t_mean, two_proportions, welch, wilson
from registry_client.domain.canary_episodes import CanaryEpisode, canary_episodes
from registry_client.domain.plan import AuditEntry
from registry_client.domain.versions import sort_versions, version_key
from registry_client.errors import EvaluationError

__all__ = [
    "TESTS",
    "Comparison",
    "Estimate",
    "EvaluationError",
    "EvaluationReport",
    "GroupReport",
    "Latency",
    "ShadowReport",
    "Task",
    "evaluate",
]

Task = Literal["classification", "regression"]
_Array = npt.NDArray[np.float64]
_Pair = tuple[Any, Any]  # (prediction, outcome) of one row


@dataclass(frozen=True, slots=True)
class Latency:
    p50: float
    p95: float
    p99: float


@dataclass(frozen=True, slots=True)
class GroupReport:
    """Quality and latency of one ``(model_version, route, shadow)`` group."""

    model_version: str
    route: str
    shadow: bool
    predictions: int  # distinct prediction ids
    rows: int
    outcomes: int  # rows with an outcome
    accuracy: Estimate | None
    mae: Estimate | None
    rmse: Estimate | None
    latency_ms: Latency


@dataclass(frozen=True, slots=True)
class Comparison:
    """Canary - stable difference of accuracy or MAE over the primary rows with outcomes of one canary episode."""

    test: str
    canary_version: str
    stable_version: str
    revisions: list[int]  # the plan revisions of the episode: only rows they routed are compared
    since: float  # epoch seconds: when the episode's first revision was saved
    until: float | None  # when the revision that ended it was saved; None: still in force
    n_canary: int
    n_stable: int
    canary: float
    stable: float
    difference: Estimate
    p_value: float | None


@dataclass(frozen=True, slots=True)
class ShadowReport:
    """A shadow version against the primary rows of the same requests."""

    shadow_version: str
    pairs: int  # shadow rows matched with a primary row
    agreement: float | None  # classification: share of equal predictions
    mean_abs_difference: float | None  # regression: mean |shadow - primary| prediction
    paired_outcomes: int
    test: str
    shadow_value: float | None
    primary_value: float | None
    difference: Estimate | None  # shadow - primary
    p_value: float | None


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    task: Task
    model: str | None
    groups: list[GroupReport]
    canary_vs_stable: list[Comparison]  # one per canary episode with outcomes on both arms, oldest first
    shadows: list[ShadowReport]

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-serialisable values."""
        return asdict(self)


def _score(prediction: Any, outcome: Any, task: Task) -> float:
    """1.0/0.0 for a correct/wrong label, or the signed error prediction - outcome."""
    if task == "classification":
        return 1.0 if prediction == outcome else 0.0
    try:
        return float(prediction) - float(outcome)
    except (TypeError, ValueError) as exc:
        raise EvaluationError(
            f"regression needs numbers, got prediction {prediction!r} and outcome {outcome!r}"
        ) from exc


@dataclass(slots=True)
class _Group:
    rows: int = 0
    latencies: dict[str, float] = field(default_factory=dict)  # prediction_id -> latency
    scores: list[float] = field(default_factory=list)  # one per row with an outcome


class _Accumulator:
    def __init__(self, task: Task) -> None:
        if task not in ("classification", "regression"):
            raise EvaluationError(f"task {task!r} is neither 'classification' nor 'regression'")
        self.task: Task = task
        self.model: str | None = None
        self.groups: dict[tuple[str, str, bool], _Group] = {}
        self.primary: dict[tuple[str, int], _Pair] = {}
        #: Scores of primary canary and stable rows by (route, version, revision), for the episodes.
        self.arms: dict[tuple[str, str, int], list[float]] = {}
        self.shadows: dict[str, dict[tuple[str, int], _Pair]] = {}

    def add(self, row: JoinedRow) -> None:
        if self.model is None:
            self.model = row.model
        elif row.model != self.model:
            raise EvaluationError(f"rows of models {self.model!r} and {row.model!r}: one at a time")
        group = self.groups.setdefault((row.model_version, row.route, row.shadow), _Group())
        group.rows += 1
        group.latencies.setdefault(row.prediction_id, row.latency_ms)
        if row.outcome is not None:
            try:
                score = _score(row.prediction, row.outcome, self.task)
            except EvaluationError as exc:
                raise EvaluationError(
                    f"model {row.model!r} version {row.model_version!r} request "
                    f"{row.request_id!r} row {row.row_index}: {exc.message}"
                ) from exc
            group.scores.append(score)
            if not row.shadow and row.route in ("canary", "stable"):
                self.arms.setdefault((row.route, row.model_version, row.revision), []).append(score)
        pairs = self.shadows.setdefault(row.model_version, {}) if row.shadow else self.primary
        pairs.setdefault((row.request_id, row.row_index), (row.prediction, row.outcome))


def _group_report(key: tuple[str, str, bool], group: _Group, task: Task) -> GroupReport:
    scores = np.asarray(group.scores, dtype=np.float64)
    latencies = np.asarray(list(group.latencies.values()), dtype=np.float64)
    labels, numbers = (
        scores.size > 0 and task == "classification",
        scores.size > 0 and task == "regression",
    )
    p50, p95, p99 = (float(v) for v in np.percentile(latencies, [50, 95, 99]))
    return GroupReport(
        model_version=key[0],
        route=key[1],
        shadow=key[2],
        predictions=len(group.latencies),
        rows=group.rows,
        outcomes=int(scores.size),
        accuracy=wilson(int(scores.sum()), scores.size) if labels else None,
        mae=mae(scores) if numbers else None,
        rmse=rmse(scores) if numbers else None,
        latency_ms=Latency(p50, p95, p99),
    )


#: The test behind each comparison (canary vs stable, shadow vs primary) per task, as reports name it.
TESTS: dict[tuple[str, Task], str] = {
    ("compare", "classification"): "pooled two-proportion z test; Newcombe hybrid score interval",
    ("compare", "regression"): "Welch t-test on absolute errors; Welch-Satterthwaite t interval",
    ("shadow", "classification"): "exact McNemar test; Wald interval of the paired difference",
    ("shadow", "regression"): "paired t-test on absolute errors; t interval",
}


def _arm(arms: dict[tuple[str, str, int], list[float]], route: str, version: str, revisions: Sequence[int]) -> _Array:
    scores = [score for revision in revisions for score in arms.get((route, version, revision), ())]
    return np.asarray(scores, dtype=np.float64)


def _compare(arms: dict[tuple[str, str, int], list[float]], episode: CanaryEpisode, task: Task) -> Comparison | None:
    canary = _arm(arms, "canary", episode.canary_version, episode.revisions)
    stable = _arm(arms, "stable", episode.stable_version, episode.revisions)
    if canary.size == 0 or stable.size == 0:
        return None
    p_value: float | None
    if task == "classification":
        k1, k2 = int(canary.sum()), int(stable.sum())
        difference, p_value = two_proportions(k1, canary.size, k2, stable.size)
    else:
        canary, stable = np.abs(canary), np.abs(stable)
        difference, p_value = welch(canary, stable)
    return Comparison(
        test=TESTS["compare", task],
        canary_version=episode.canary_version,
        stable_version=episode.stable_version,
        revisions=list(episode.revisions),
        since=episode.since,
        until=episode.until,
        n_canary=int(canary.size),
        n_stable=int(stable.size),
        canary=float(canary.mean()),
        stable=float(stable.mean()),
        difference=difference,
        p_value=p_value,
    )


def _agreement(matched: list[tuple[_Pair, _Pair]], task: Task) -> tuple[float | None, float | None]:
    """Share of equal predictions (classification) or mean |shadow - primary| (regression)."""
    if not matched:
        return None, None
    if task == "classification":
        return sum(s[0] == p[0] for s, p in matched) / len(matched), None
    return None, sum(abs(_score(s[0], p[0], task)) for s, p in matched) / len(matched)


def _paired(matched: list[tuple[_Pair, _Pair]], task: Task) -> tuple[_Array, _Array]:
    """Correctness or absolute error of the shadow and the primary on matched rows with outcomes."""
    shadow, primary = [], []
    for (s_pred, s_out), (p_pred, p_out) in matched:
        outcome = p_out if p_out is not None else s_out
        if outcome is not None:
            shadow.append(abs(_score(s_pred, outcome, task)))
            primary.append(abs(_score(p_pred, outcome, task)))
    return np.asarray(shadow, dtype=np.float64), np.asarray(primary, dtype=np.float64)


def _shadow_report(
    version: str,
    pairs: dict[tuple[str, int], _Pair],
    primary: dict[tuple[str, int], _Pair],
    task: Task,
) -> ShadowReport:
    matched = [(pair, primary[key]) for key, pair in pairs.items() if key in primary]
    agreement, mad = _agreement(matched, task)
    shadow, prim = _paired(matched, task)
    difference: Estimate | None = None
    p_value: float | None = None
    if shadow.size and task == "classification":
        difference, p_value = mcnemar(shadow, prim)
    elif shadow.size:
        difference, p_value = t_mean(shadow - prim)
    return ShadowReport(
        shadow_version=version,
        pairs=len(matched),
        agreement=agreement,
        mean_abs_difference=mad,
        paired_outcomes=int(shadow.size),
        test=TESTS["shadow", task],
        shadow_value=float(shadow.mean()) if shadow.size else None,
        primary_value=float(prim.mean()) if shadow.size else None,
        difference=difference,
        p_value=p_value,
    )


def evaluate(rows: Iterable[JoinedRow], *, task: Task, history: Sequence[AuditEntry] = ()) -> EvaluationReport:
    """Evaluate the joined rows of one model; see the module docstring for the methods.

    ``history`` is the model's plan audit history (``store.history(model)``): canary and stable are
    compared within each canary episode it records, so without it there is no comparison.
    """
    acc = _Accumulator(task)
    for row in rows:
        acc.add(row)
    keys = sorted(acc.groups, key=lambda key: (version_key(key[0]), key[1], key[2]))
    compared = (_compare(acc.arms, episode, task) for episode in canary_episodes(history))
    return EvaluationReport(
        task=task,
        model=acc.model,
        groups=[_group_report(key, acc.groups[key], task) for key in keys],
        canary_vs_stable=[comparison for comparison in compared if comparison is not None],
        shadows=[
            _shadow_report(version, acc.shadows[version], acc.primary, task) for version in sort_versions(acc.shadows)
        ],
    )
