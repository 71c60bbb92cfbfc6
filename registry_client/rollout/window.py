"""A rollout's window: the evidence of one tick, read from the store, and the gates evaluated on it.

The window is the traffic served under the rollout's own plan revisions (concurrent requests only): the
canary version's ``canary``-route records against the stable version's ``stable``-route records of the
same revisions, since the rollout started. Quality reads matured rows only (served more than
``label_delay`` ago) joined to their outcomes (:func:`~registry_client.analysis.joined.joined_rows`);
latency reads every record's ``latency_ms`` under the current step's revision, in the order served (each
step is tested on its own: load differs between steps, not between the arms of one); errors and the
sample ratio read the request counts the
gateways add per revision (:meth:`Store.request_counts <registry_client.store.Store.request_counts>`).

In the shadow phase the window is the shadow version's records paired with the primary (stable) records
they mirror; the quality gate is the confidence sequence of the per-row paired difference.

Reading the whole window each tick is linear in its records; at the default 10 s tick and the ~10⁵
records of a day-long 5 % step this is well under a second on SQLite (the e2e tests run far smaller).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from registry_client.analysis.joined import JoinedRow, joined_rows
from registry_client.analysis.sequential import mean_sequence
from registry_client.domain.plan import AuditEntry
from registry_client.domain.rollout import RolloutState
from registry_client.rollout.gates import (
    Coverage,
    GateResult,
    GateThresholds,
    QualityRows,
    RevisionTraffic,
    error_gate,
    quality_gate,
    sample_ratio_gate,
)
from registry_client.rollout.latency import LatencyRows, latency_gate
from registry_client.rollout.spec import thresholds_of
from registry_client.store import Store

__all__ = ["Window", "agreement_gate", "arm_rows", "evaluate", "gate_dict", "quality_of", "weights_of", "window_of"]


@dataclass(frozen=True, slots=True)
class Window:
    """What one tick's gates were computed on: revisions, time range and the matured cut-off."""

    revisions: tuple[int, ...]
    weights: dict[int, float]  # revision → canary share in (0, 1]
    since: float
    until: float
    matured_before: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "revisions": list(self.revisions),
            "weights": {str(k): v for k, v in self.weights.items()},
            "since": self.since,
            "until": self.until,
            "matured_before": self.matured_before,
        }


def weights_of(history: list[AuditEntry], revisions: tuple[int, ...]) -> dict[int, float]:
    """The canary share of each of ``revisions``, from the plans the audit history recorded."""
    found: dict[int, float] = {}
    for entry in history:
        if entry.revision in revisions and entry.after.canary is not None:
            found[entry.revision] = entry.after.canary.weight / 100
    return found


def gate_dict(gate: GateResult) -> dict[str, Any]:
    """A gate's result as JSON-ready evidence (NaN and infinities become None)."""
    data = asdict(gate)
    for key in ("estimate", "low", "high", "threshold"):
        value = data[key]
        if isinstance(value, float) and not math.isfinite(value):
            data[key] = None
    return data


def quality_of(row: JoinedRow, task: str) -> float:
    """A labelled row's quality, higher is better: 1/0 correctness, or −|error| for a regressor."""
    outcome: Any = row.outcome
    if task == "regression":
        return -abs(float(row.prediction) - float(outcome))
    return 1.0 if row.prediction == outcome else 0.0


def window_of(store: Store, state: RolloutState, *, now: float) -> Window:
    """The window a tick at ``now`` reads."""
    revisions = state.revisions
    weights = weights_of(store.history(state.spec.model), revisions)
    return Window(revisions, weights, state.started_at, now, now - state.spec.label_delay_s)


def arm_rows(store: Store, state: RolloutState, window: Window) -> Iterator[tuple[JoinedRow, bool]]:
    """The window's primary rows of either arm, in request order, each with whether the canary served it."""
    arms = {("canary", state.spec.version): True, ("stable", state.stable): False}
    for row in joined_rows(store, state.spec.model, since=state.started_at):
        on_canary = arms.get((row.route, row.model_version))
        if row.shadow or on_canary is None or row.revision not in window.weights:
            continue
        yield row, on_canary


def evaluate(store: Store, state: RolloutState, *, now: float, task: str) -> tuple[Window, list[GateResult]]:
    """The window and every gate of this tick (the shadow phase's paired gate, or the four canary gates)."""
    spec = state.spec
    limits = thresholds_of(spec)
    window = window_of(store, state, now=now)
    if state.resumes_to == "shadow":
        return window, _paired_gates(store, state, window, limits, task)
    quality: list[tuple[float, bool, float]] = []
    matured: dict[str, tuple[bool, bool]] = {}
    current = window.revisions[-1] if window.revisions else None
    latency: dict[str, tuple[float, str, float, bool]] = {}
    for row, on_canary in arm_rows(store, state, window):
        if row.revision == current:
            latency[row.prediction_id] = (row.ts, row.prediction_id, row.latency_ms, on_canary)
        if row.ts >= window.matured_before:
            continue
        seen = matured.get(row.prediction_id, (on_canary, False))
        matured[row.prediction_id] = (on_canary, seen[1] or row.joined)
        weight = window.weights[row.revision]
        if row.joined and 0 < weight < 1:
            quality.append((quality_of(row, task), on_canary, weight))
    rows = (
        QualityRows(
            np.array([q for q, _, _ in quality]),
            np.array([c for _, c, _ in quality], dtype=bool),
            np.array([w for _, _, w in quality]),
        )
        if quality
        else QualityRows.empty()
    )
    coverage = _coverage(matured.values())
    traffic = _traffic(store, state, window)
    gates = [
        quality_gate(rows, coverage, limits, task=task),
        latency_gate(_latency_rows(latency.values(), window, current), limits),
        error_gate(traffic, limits),
    ]
    gates.append(sample_ratio_gate(traffic, limits))
    return window, gates


def _latency_rows(requests: Any, window: Window, revision: int | None) -> LatencyRows:
    weight = window.weights.get(revision, 0.0) if revision is not None else 0.0
    if not 0 < weight < 1:
        return LatencyRows.empty()
    served = sorted(requests)  # by time, then prediction ID: the order the test's grid counts in
    return LatencyRows(
        np.array([latency for _, _, latency, _ in served], dtype=np.float64),
        np.array([on_canary for _, _, _, on_canary in served], dtype=bool),
        weight,
        revision,
    )


def _coverage(matured: Any) -> Coverage:
    counts = {True: [0, 0], False: [0, 0]}
    for on_canary, labelled in matured:
        counts[on_canary][0] += 1
        counts[on_canary][1] += int(labelled)
    return Coverage(counts[True][0], counts[True][1], counts[False][0], counts[False][1])


def _traffic(store: Store, state: RolloutState, window: Window) -> list[RevisionTraffic]:
    totals: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    buckets: dict[tuple[int, str], set[int]] = defaultdict(set)
    for count in store.request_counts(state.spec.model, window.revisions):
        key = count.key
        if (key.route, key.version) == ("canary", state.spec.version):
            arm = "canary"
        elif (key.route, key.version) == ("stable", state.stable):
            arm = "stable"
        else:
            continue
        fields = totals[key.revision]
        fields[f"{arm}_answered"] += count.served
        fields[f"{arm}_failed"] += count.failed
        if not key.keyed:
            fields[f"{arm}_requests_unkeyed"] += count.served + count.failed
        buckets[(key.revision, arm)].update(count.buckets)
    for (revision, arm), seen in buckets.items():
        if seen:
            totals[revision][f"{arm}_key_buckets"] = len(seen)
    return [
        RevisionTraffic(revision, window.weights[revision], **dict(fields))
        for revision, fields in sorted(totals.items())
        if revision in window.weights
    ]


def _paired_gates(
    store: Store, state: RolloutState, window: Window, limits: GateThresholds, task: str
) -> list[GateResult]:
    """Shadow minus primary quality over labelled pairs (the same request, both versions), anytime-valid; and
    with ``min_agreement``, the share of mirrored rows where both versions predict the same."""
    spec = state.spec
    primaries: dict[tuple[str, int], JoinedRow] = {}
    shadows: list[JoinedRow] = []
    for row in joined_rows(store, spec.model, since=state.started_at):
        if row.ts >= window.matured_before:
            continue
        if row.shadow and row.model_version == spec.version:
            shadows.append(row)
        elif not row.shadow and row.model_version == state.stable:
            primaries[(row.request_id, row.row_index)] = row
    pairs: list[float] = []
    agreed: list[float] = []
    for row in shadows:
        primary = primaries.get((row.request_id, row.row_index))
        if primary is None:
            continue
        agreed.append(float(primary.prediction == row.prediction))
        if row.joined and primary.joined:
            pairs.append(quality_of(row, task) - quality_of(primary, task))
    threshold = -limits.margin
    base = GateResult(
        gate="quality",
        verdict="inconclusive",
        reason="",
        n_canary=len(pairs),
        n_stable=len(pairs),
        threshold=threshold,
        detail={"agreement": sum(agreed) / len(agreed) if agreed else None, "compared_rows": len(agreed)},
    )
    gates = [_paired_quality(base, pairs, limits)]
    if limits.min_agreement is not None:
        gates.append(agreement_gate(np.array(agreed), limits.min_agreement, limits))
    return gates


def agreement_gate(agreed: npt.NDArray[np.float64], minimum: float, limits: GateThresholds) -> GateResult:
    """The share of mirrored rows on which shadow and stable agree (1/0 in order) against ``minimum``, as the
    anytime-valid sequence of a mean: lower bound at or above it passes, upper bound below it fails."""
    base = GateResult(
        gate="agreement",
        verdict="inconclusive",
        reason="",
        n_canary=int(agreed.size),
        n_stable=int(agreed.size),
        threshold=minimum,
    )
    if agreed.size < limits.min_outcomes:
        reason = f"{agreed.size} mirrored rows; {limits.min_outcomes} needed"
        return replace(base, reason=reason, needed=limits.min_outcomes - int(agreed.size))
    sequence = mean_sequence(agreed, alpha=limits.alpha, t_opt=limits.min_outcomes)
    assert sequence.low is not None and sequence.high is not None and sequence.estimate is not None
    result = replace(base, estimate=sequence.estimate, low=sequence.low, high=sequence.high, method=sequence.method)
    interval = f"agreement {sequence.estimate:.4f} in [{sequence.low:.4f}, {sequence.high:.4f}]"
    if sequence.low >= minimum:
        return replace(result, verdict="pass", reason=f"{interval}: at least {minimum}")
    if sequence.high < minimum:
        return replace(result, verdict="fail", reason=f"{interval}: below {minimum}")
    return replace(result, reason=f"{interval}: straddles {minimum}")


def _paired_quality(base: GateResult, pairs: list[float], limits: GateThresholds) -> GateResult:
    threshold = -limits.margin
    if len(pairs) < limits.min_outcomes:
        return replace(
            base,
            reason=f"{len(pairs)} labelled pairs; {limits.min_outcomes} needed",
            needed=limits.min_outcomes - len(pairs),
        )
    sequence = mean_sequence(np.array(pairs), alpha=limits.alpha, t_opt=limits.min_outcomes)
    assert sequence.low is not None and sequence.high is not None and sequence.estimate is not None
    result = replace(base, estimate=sequence.estimate, low=sequence.low, high=sequence.high, method=sequence.method)
    interval = f"paired difference {sequence.estimate:+.4f} in [{sequence.low:+.4f}, {sequence.high:+.4f}]"
    if sequence.low > threshold:
        return replace(result, verdict="pass", reason=f"{interval}: above -margin {threshold:+.4f}")
    if sequence.high < threshold:
        return replace(result, verdict="fail", reason=f"{interval}: below -margin {threshold:+.4f}")
    return replace(result, reason=f"{interval}: straddles -margin {threshold:+.4f}")
