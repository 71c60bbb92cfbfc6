"""Evaluation from aggregates: the report of a store that scores and groups rows in its own engine.

:func:`evaluate_store` is what ``canaryline eval`` calls. A store that is an
:class:`~registry_client.store.base.EvaluationQueries` (PostgreSQL) returns
:class:`~registry_client.domain.aggregates.EvaluationAggregates`, a few values per version, route,
revision and shadow version, and :func:`report_of` applies the same statistics to them
(:mod:`registry_client.analysis.statistics`, the ``*_of`` twins) that
:func:`~registry_client.analysis.evaluation.evaluate` applies to rows it reads one by one: over ten million
rows that is the difference between fetching every row into the CLI and fetching a dozen. Any other store,
or a window the store cannot score, is evaluated row by row through the joined view.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from registry_client.analysis.evaluation import (
    TESTS,
    Comparison,
    EvaluationReport,
    GroupReport,
    Latency,
    ShadowReport,
    Task,
    evaluate,
)
from registry_client.analysis.joined import joined_rows
from registry_client.analysis.statistics import (
    mae_of,
    mcnemar_of,
    rmse_of,
    t_mean_of,
    two_proportions,
    welch_of,
    wilson,
)
from registry_client.domain.aggregates import (
    EMPTY,
    ArmAggregate,
    EvaluationAggregates,
    GroupAggregate,
    ShadowAggregate,
)
from registry_client.domain.canary_episodes import CanaryEpisode, canary_episodes
from registry_client.domain.plan import AuditEntry
from registry_client.domain.versions import sort_versions, version_key
from registry_client.errors import EvaluationError
from registry_client.store import EvaluationQueries, Store

__all__ = ["evaluate_store", "report_of"]


def evaluate_store(
    store: Store, model: str, *, task: Task, since: float | None = None, until: float | None = None
) -> EvaluationReport:
    """Evaluate ``model``'s window in the store when it can (:class:`EvaluationQueries`), else row by row."""
    history = store.history(model)
    if isinstance(store, EvaluationQueries):
        if task not in ("classification", "regression"):
            raise EvaluationError(f"task {task!r} is neither 'classification' nor 'regression'")
        aggregates = store.evaluation_aggregates(model, task=task, since=since, until=until)
        if aggregates is not None:
            return report_of(aggregates, task=task, history=history)
    return evaluate(joined_rows(store, model, since=since, until=until), task=task, history=history)


def _group(g: GroupAggregate, task: Task) -> GroupReport:
    scored = g.outcomes > 0
    return GroupReport(
        model_version=g.model_version,
        route=g.route,
        shadow=g.shadow,
        predictions=g.predictions,
        rows=g.rows,
        outcomes=g.outcomes,
        accuracy=wilson(g.correct or 0, g.outcomes) if scored and task == "classification" else None,
        mae=mae_of(g.abs_errors) if scored and g.abs_errors is not None else None,
        rmse=rmse_of(g.squared_errors) if scored and g.squared_errors is not None else None,
        latency_ms=Latency(g.latency_p50, g.latency_p95, g.latency_p99),
    )


def _pooled(arms: Sequence[ArmAggregate], route: str, version: str, revisions: Sequence[int]) -> list[ArmAggregate]:
    wanted = set(revisions)
    return [a for a in arms if a.route == route and a.model_version == version and a.revision in wanted]


def _compare(arms: Sequence[ArmAggregate], episode: CanaryEpisode, task: Task) -> Comparison | None:
    canary = _pooled(arms, "canary", episode.canary_version, episode.revisions)
    stable = _pooled(arms, "stable", episode.stable_version, episode.revisions)
    n1, n2 = sum(a.n for a in canary), sum(a.n for a in stable)
    if n1 == 0 or n2 == 0:
        return None
    p_value: float | None
    if task == "classification":
        k1, k2 = sum(a.correct or 0 for a in canary), sum(a.correct or 0 for a in stable)
        difference, p_value = two_proportions(k1, n1, k2, n2)
        means = (k1 / n1, k2 / n2)
    else:
        first = reduce(lambda m, a: m.merge(a.abs_errors or EMPTY), canary, EMPTY)
        second = reduce(lambda m, a: m.merge(a.abs_errors or EMPTY), stable, EMPTY)
        difference, p_value = welch_of(first, second)
        means = (first.mean, second.mean)
    return Comparison(
        test=TESTS["compare", task],
        canary_version=episode.canary_version,
        stable_version=episode.stable_version,
        revisions=list(episode.revisions),
        since=episode.since,
        until=episode.until,
        n_canary=n1,
        n_stable=n2,
        canary=means[0],
        stable=means[1],
        difference=difference,
        p_value=p_value,
    )


def _shadow(s: ShadowAggregate, task: Task) -> ShadowReport:
    n = s.shadow_scores.n
    difference, p_value = (None, None)
    if n and task == "classification":
        difference, p_value = mcnemar_of(n, s.shadow_only, s.primary_only)
    elif n:
        difference, p_value = t_mean_of(s.differences)
    classification = task == "classification"
    return ShadowReport(
        shadow_version=s.shadow_version,
        pairs=s.pairs,
        agreement=s.agreement if classification else None,
        mean_abs_difference=None if classification else s.agreement,
        paired_outcomes=n,
        test=TESTS["shadow", task],
        shadow_value=s.shadow_scores.mean if n else None,
        primary_value=s.primary_scores.mean if n else None,
        difference=difference,
        p_value=p_value,
    )


def report_of(aggregates: EvaluationAggregates, *, task: Task, history: Sequence[AuditEntry] = ()) -> EvaluationReport:
    """The report :func:`~registry_client.analysis.evaluation.evaluate` gives for the rows summarised."""
    groups = sorted(aggregates.groups, key=lambda g: (version_key(g.model_version), g.route, g.shadow))
    compared = (_compare(aggregates.arms, episode, task) for episode in canary_episodes(history))
    found = {s.shadow_version: s for s in aggregates.shadows}
    shadows = [  # every shadow version with rows, matched or not, as row-by-row evaluation reports them
        found.get(version) or ShadowAggregate(version, 0, None, EMPTY, EMPTY, EMPTY, 0, 0)
        for version in sort_versions({g.model_version for g in groups if g.shadow})
    ]
    return EvaluationReport(
        task=task,
        model=aggregates.model,
        groups=[_group(g, task) for g in groups],
        canary_vs_stable=[comparison for comparison in compared if comparison is not None],
        shadows=[_shadow(s, task) for s in shadows],
    )
