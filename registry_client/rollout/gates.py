"""A rollout's gates: pure functions from the evidence of one tick to a verdict with its numbers.

Every gate compares the canary version with the stable version on traffic served under the rollout's
own plan revisions only (concurrent requests), and answers ``pass``, ``fail`` or ``inconclusive`` with
the counts per arm, the estimate, its interval, the threshold and the method, so a decision can be
recomputed from the export later. Too little data is always ``inconclusive``: no data is never a
reason to promote or to roll back.

* **quality** — canary − stable accuracy (classifiers) or −(MAE difference) (regressors, so higher is
  better for both) on matured labelled rows, as an anytime-valid confidence sequence
  (:mod:`registry_client.analysis.sequential`) against a non-inferiority margin: lower bound above −margin
  passes, upper bound below −margin fails. Before ``min_outcomes`` rows per arm, inconclusive.
* **label coverage** — when the share of matured requests that have an outcome differs between the arms
  by more than ``max_coverage_gap``, the quality verdict is inconclusive ("labels arrive unevenly"):
  missing labels that depend on the arm bias any comparison, so this is never a pass.
* **latency** — :mod:`registry_client.rollout.latency`: fails on an exact randomisation test of the
  canary's share of the slowest requests, passes on the p99 ratio within ``max_p99_ratio``.
* **errors** — canary − stable error rate (failed / answered requests) as the same confidence sequence
  over the per-revision counts, against ``max_error_rate_increase``: lower bound above it fails, upper
  bound at or below it passes.
* **sample ratio** — the canary's observed share against its weight, per revision, as an anytime-valid
  test (the beta-binomial mixture martingale, :mod:`registry_client.analysis.mixture`; strata multiply) at a
  strict level (``srm_alpha``): read at every tick, exact at any count (a chi-square test is neither: at a
  5 % step's few expected canary requests its tail is far too light). Traffic routed by a sticky key is
  counted by distinct key buckets (a key, not each of its requests, is the unit the hash assigns), traffic
  without a key by request. A mismatch means routing is broken: the rollout aborts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from registry_client.analysis.mixture import log_evidence
from registry_client.analysis.sequential import (
    SequenceEstimate,
    aipw_pseudo_outcomes,
    difference_sequence,
    outcomes_needed,
)

__all__ = [
    "Coverage",
    "GateResult",
    "GateThresholds",
    "QualityRows",
    "RevisionTraffic",
    "Verdict",
    "coverage_of",
    "error_gate",
    "quality_gate",
    "sample_ratio_gate",
]

Verdict = Literal["pass", "fail", "inconclusive"]
Array = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class GateThresholds:
    """The numbers a rollout's spec sets for its gates."""

    margin: float = 0.01
    min_outcomes: int = 200
    max_coverage_gap: float = 0.05
    max_p99_ratio: float = 1.2
    min_latency_samples: int = 200
    #: The latency test's level in each step (the rollout's alpha over its canary steps).
    latency_alpha: float = 0.05
    max_error_rate_increase: float = 0.005
    alpha: float = 0.05
    srm_alpha: float = 0.0001
    #: The shadow phase's least agreement with stable (None: not gated).
    min_agreement: float | None = None
    #: The sample-ratio prior's concentration: its spread is that of the share over this many units.
    srm_concentration: float = 100.0


@dataclass(frozen=True, slots=True)
class GateResult:
    """One gate's verdict at one tick, with everything needed to recompute it."""

    gate: str
    verdict: Verdict
    reason: str
    n_canary: int = 0
    n_stable: int = 0
    estimate: float | None = None
    low: float | None = None
    high: float | None = None
    threshold: float | None = None
    method: str = ""
    #: Roughly how many more observations (both arms) a verdict needs; None when not estimable.
    needed: int | None = None
    detail: dict[str, float | int | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class QualityRows:
    """Matured labelled rows of the rollout's window in request order: quality (higher is better: 1/0
    correctness, or −|error|), whether the canary served it, and the canary weight it was routed under."""

    quality: Array
    canary: npt.NDArray[np.bool_]
    propensity: Array

    @classmethod
    def empty(cls) -> QualityRows:
        return cls(np.zeros(0), np.zeros(0, dtype=bool), np.zeros(0))


@dataclass(frozen=True, slots=True)
class Coverage:
    """Matured requests per arm and how many of them have an outcome."""

    canary_matured: int
    canary_labelled: int
    stable_matured: int
    stable_labelled: int

    @property
    def canary_share(self) -> float | None:
        return self.canary_labelled / self.canary_matured if self.canary_matured else None

    @property
    def stable_share(self) -> float | None:
        return self.stable_labelled / self.stable_matured if self.stable_matured else None


def coverage_of(matured: Sequence[tuple[bool, bool]]) -> Coverage:
    """Coverage from ``(served_by_canary, has_outcome)`` per matured request."""
    canary = [labelled for on_canary, labelled in matured if on_canary]
    stable = [labelled for on_canary, labelled in matured if not on_canary]
    return Coverage(len(canary), sum(canary), len(stable), sum(stable))


@dataclass(frozen=True, slots=True)
class RevisionTraffic:
    """What one of the rollout's plan revisions served, per arm."""

    revision: int
    weight: float  # canary share of unpinned traffic, in (0, 1]
    canary_answered: int = 0
    stable_answered: int = 0
    canary_failed: int = 0
    stable_failed: int = 0
    canary_requests_unkeyed: int = 0
    stable_requests_unkeyed: int = 0
    canary_key_buckets: int = 0  # distinct sticky-key buckets seen on each arm
    stable_key_buckets: int = 0


def _with_sequence(base: GateResult, sequence: SequenceEstimate) -> GateResult:
    return replace(base, estimate=sequence.estimate, low=sequence.low, high=sequence.high, method=sequence.method)


def quality_gate(rows: QualityRows, coverage: Coverage, limits: GateThresholds, *, task: str) -> GateResult:
    """Non-inferiority of the canary's accuracy (or MAE) against stable's, anytime-valid."""
    what = "accuracy" if task == "classification" else "-MAE"
    threshold = -limits.margin
    n_canary = int(rows.canary.sum())
    n_stable = int(rows.canary.size - n_canary)
    base = GateResult(
        gate="quality",
        verdict="inconclusive",
        reason="",
        n_canary=n_canary,
        n_stable=n_stable,
        threshold=threshold,
        detail={"coverage_canary": coverage.canary_share, "coverage_stable": coverage.stable_share},
    )
    if n_canary < limits.min_outcomes or n_stable < limits.min_outcomes:
        short = max(limits.min_outcomes - n_canary, 0) + max(limits.min_outcomes - n_stable, 0)
        reason = f"{n_canary} canary and {n_stable} stable labelled rows; {limits.min_outcomes} per arm needed"
        return replace(base, reason=reason, needed=short)
    sequence = difference_sequence(
        rows.quality, rows.canary, rows.propensity, alpha=limits.alpha, t_opt=limits.min_outcomes
    )
    assert sequence.estimate is not None and sequence.low is not None and sequence.high is not None
    result = _with_sequence(base, sequence)
    gap = _coverage_gap(coverage)
    if gap is None or gap > limits.max_coverage_gap:
        shares = f"{_pct(coverage.canary_share)} canary vs {_pct(coverage.stable_share)} stable"
        return replace(
            result,
            reason=f"labels arrive unevenly: {shares} of matured requests have an outcome "
            f"(more than {limits.max_coverage_gap:.0%} apart)",
        )
    interval = f"{what} difference {sequence.estimate:+.4f} in [{sequence.low:+.4f}, {sequence.high:+.4f}]"
    if sequence.low > threshold:
        return replace(result, verdict="pass", reason=f"{interval}: above -margin {threshold:+.4f}")
    if sequence.high < threshold:
        return replace(result, verdict="fail", reason=f"{interval}: below -margin {threshold:+.4f}")
    needed = outcomes_needed(sequence, _pseudo_variance(rows), distance=abs(sequence.estimate - threshold))
    return replace(result, reason=f"{interval}: straddles -margin {threshold:+.4f}", needed=needed)


def _pseudo_variance(rows: QualityRows) -> float:
    psi = aipw_pseudo_outcomes(rows.quality, rows.canary, rows.propensity)
    return float(psi.var(ddof=1)) if psi.size > 1 else math.inf


def _coverage_gap(coverage: Coverage) -> float | None:
    if coverage.canary_share is None or coverage.stable_share is None:
        return None
    return abs(coverage.canary_share - coverage.stable_share)


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share:.1%}"


def error_gate(traffic: Sequence[RevisionTraffic], limits: GateThresholds) -> GateResult:
    """Canary − stable error rate as the confidence sequence over the revisions' counts.

    Counts carry no order within a revision, so the requests of each revision are laid out arm by arm
    and shuffled with a fixed seed: the same counts always give the same verdict.
    """
    usable = [t for t in traffic if 0 < t.weight < 1]
    n_canary = sum(t.canary_answered + t.canary_failed for t in usable)
    n_stable = sum(t.stable_answered + t.stable_failed for t in usable)
    threshold = limits.max_error_rate_increase
    base = GateResult(
        gate="errors", verdict="inconclusive", reason="", n_canary=n_canary, n_stable=n_stable, threshold=threshold
    )
    if n_canary < limits.min_outcomes or n_stable < limits.min_outcomes:
        reason = f"{n_canary} canary and {n_stable} stable requests; {limits.min_outcomes} per arm needed"
        needed = max(limits.min_outcomes - n_canary, 0) + max(limits.min_outcomes - n_stable, 0)
        return replace(base, reason=reason, needed=needed)
    rng = np.random.default_rng(0)
    errors, canary, propensity = [], [], []
    for t in usable:
        arm_errors = np.concatenate(
            [
                np.ones(t.canary_failed),
                np.zeros(t.canary_answered),
                np.ones(t.stable_failed),
                np.zeros(t.stable_answered),
            ]
        )
        on_canary = np.arange(arm_errors.size) < t.canary_failed + t.canary_answered
        order = rng.permutation(arm_errors.size)
        errors.append(arm_errors[order])
        canary.append(on_canary[order])
        propensity.append(np.full(arm_errors.size, t.weight))
    sequence = difference_sequence(
        np.concatenate(errors),
        np.concatenate(canary),
        np.concatenate(propensity),
        alpha=limits.alpha,
        t_opt=limits.min_outcomes,
    )
    assert sequence.estimate is not None and sequence.low is not None and sequence.high is not None
    result = replace(
        _with_sequence(base, sequence),
        detail={
            "canary_error_rate": sum(t.canary_failed for t in usable) / n_canary,
            "stable_error_rate": sum(t.stable_failed for t in usable) / n_stable,
        },
    )
    interval = f"error-rate increase {sequence.estimate:+.4f} in [{sequence.low:+.4f}, {sequence.high:+.4f}]"
    if sequence.low > threshold:
        return replace(result, verdict="fail", reason=f"{interval}: above {threshold}")
    if sequence.high <= threshold:
        return replace(result, verdict="pass", reason=f"{interval}: within {threshold}")
    return replace(result, reason=f"{interval}: straddles {threshold}")


def sample_ratio_gate(traffic: Sequence[RevisionTraffic], limits: GateThresholds) -> GateResult:
    """The canary's observed share against each revision's weight, anytime-valid (strata multiply)."""
    ones, totals, weights = [], [], []
    for t in traffic:
        if not 0 < t.weight < 1:
            continue
        for canary_units, stable_units in (
            (t.canary_requests_unkeyed, t.stable_requests_unkeyed),
            (t.canary_key_buckets, t.stable_key_buckets),
        ):
            if canary_units + stable_units:
                ones.append(canary_units)
                totals.append(canary_units + stable_units)
                weights.append(t.weight)
    n_canary = sum(ones)
    base = GateResult(
        gate="sample_ratio",
        verdict="inconclusive",
        reason="no routed traffic yet",
        n_canary=n_canary,
        n_stable=sum(totals) - n_canary,
        threshold=limits.srm_alpha,
        method="anytime-valid beta-binomial mixture test of the canary share against its weight, per revision "
        "(Lindon & Malek 2022), requests without a key and distinct key buckets",
    )
    if not totals:
        return base
    log_e = float(log_evidence(ones, totals, weights, concentration=limits.srm_concentration).sum())
    p_value = min(1.0, math.exp(-log_e))
    expected = sum(n * w for n, w in zip(totals, weights, strict=True))
    result = replace(
        base, estimate=p_value, detail={"log_evidence": log_e, "strata": len(totals), "expected_canary": expected}
    )
    summary = (
        f"{n_canary} canary units where the weights expect {expected:.1f}, over {len(totals)} strata: "
        f"evidence {math.exp(min(log_e, 700)):.3g}, anytime p = {p_value:.2g}"
    )
    if p_value < limits.srm_alpha:
        reason = f"sample ratio mismatch: {summary} < {limits.srm_alpha}: routing does not follow the weights"
        return replace(result, verdict="fail", reason=reason)
    return replace(result, verdict="pass", reason=summary)
