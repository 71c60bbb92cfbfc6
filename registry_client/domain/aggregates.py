"""Evaluation aggregates: what a store that evaluates in its own engine returns instead of rows.

A store that is also an :class:`~registry_client.store.base.EvaluationQueries` (PostgreSQL) groups and
scores the joined rows itself and hands back only these values, a few per version and route, whatever
the number of rows; :func:`registry_client.analysis.aggregated.report_of` turns them into the same
:class:`~registry_client.analysis.evaluation.EvaluationReport` that row-by-row evaluation gives.
Scores are 1.0/0.0 for a correct/wrong label (classification) or the error prediction - outcome
(regression), exactly as in :mod:`registry_client.analysis.evaluation`.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "EMPTY",
    "ArmAggregate",
    "EvaluationAggregates",
    "GroupAggregate",
    "Moments",
    "ShadowAggregate",
    "TimelineCell",
]


@dataclass(frozen=True, slots=True)
class Moments:
    """Count, mean and sum of squared deviations from the mean (``m2``) of some values.

    Two sets merge exactly (Chan, Golub and LeVeque's pairwise update), so the moments of several
    plan revisions pool into an episode's without the values themselves.
    """

    n: int
    mean: float
    m2: float

    def merge(self, other: Moments) -> Moments:
        if self.n == 0:
            return other
        if other.n == 0:
            return self
        n = self.n + other.n
        delta = other.mean - self.mean
        mean = self.mean + delta * other.n / n
        return Moments(n, mean, self.m2 + other.m2 + delta * delta * self.n * other.n / n)


#: The moments of no values.
EMPTY = Moments(0, 0.0, 0.0)


@dataclass(frozen=True, slots=True)
class GroupAggregate:
    """One ``(model_version, route, shadow)`` group: counts, scores and latency percentiles.

    ``abs_errors`` and ``squared_errors`` are the moments of |error| and error² (regression only);
    ``correct`` counts the rows whose label was right (classification only). Latencies are one per
    prediction (a batch counts once), p50/p95/p99 with linear interpolation between closest ranks.
    """

    model_version: str
    route: str
    shadow: bool
    predictions: int
    rows: int
    outcomes: int
    correct: int | None
    abs_errors: Moments | None
    squared_errors: Moments | None
    latency_p50: float
    latency_p95: float
    latency_p99: float


@dataclass(frozen=True, slots=True)
class ArmAggregate:
    """Primary ``canary`` or ``stable`` rows with outcomes of one version under one plan revision."""

    route: str
    model_version: str
    revision: int
    n: int
    correct: int | None  # classification
    abs_errors: Moments | None  # regression


@dataclass(frozen=True, slots=True)
class ShadowAggregate:
    """A shadow version's rows matched with the primary row of the same ``(request_id, row_index)``.

    ``agreement`` is the share of equal predictions (classification) or the mean |shadow - primary|
    prediction (regression). Of the pairs with an outcome (the primary row's, else the shadow's):
    ``shadow_scores`` and ``primary_scores`` are the moments of correctness or |error|, ``differences``
    those of shadow - primary, and ``shadow_only`` / ``primary_only`` the discordant pairs (one right,
    the other wrong; classification).
    """

    shadow_version: str
    pairs: int
    agreement: float | None
    shadow_scores: Moments
    primary_scores: Moments
    differences: Moments
    shadow_only: int
    primary_only: int


@dataclass(frozen=True, slots=True)
class EvaluationAggregates:
    """Everything evaluation needs of one model's window; ``model`` is None when it holds no rows."""

    model: str | None
    groups: list[GroupAggregate]
    arms: list[ArmAggregate]
    shadows: list[ShadowAggregate]


@dataclass(frozen=True, slots=True)
class TimelineCell:
    """One series' sum in one time bucket of a timeline (:mod:`registry_client.analysis.timeline`).

    ``kind`` is ``requests`` (primary records, ``total`` = ``n``), ``quality`` (labelled rows: ``total`` is
    the number correct, or the sum of |error|) or ``agreement`` (shadow rows paired with their primary, in the
    primary's bucket: ``total`` equal predictions, or the sum of |shadow − primary|); ``bucket`` is
    ``floor(ts / bucket_s)``; ``label`` a version, or ``"<version> · shadow"`` for a shadow's quality."""

    bucket: int
    kind: str
    label: str
    n: int
    total: float
