"""A rollout's quality gate over time: its confidence sequence at every labelled request, for the console.

The quality gate reads one point of an anytime-valid confidence sequence, the one after the last matured
labelled row of its window (:func:`~registry_client.analysis.sequential.difference_sequence`). The sequence
is valid at every time at once, so the whole of it is evidence: :func:`quality_sequence` computes it over
the same rows, in the same order, with the same ``alpha`` and ``t_opt`` (the spec's ``min_outcomes``), and
answers the estimate and bounds after each of them, so a chart shows how the interval narrowed towards (or
away from) ``−margin`` while traffic moved. Its last point is what a tick at the same ``now`` reads.

At most ``points`` points are answered (evenly spaced over the rows, the last always kept): the chart
needs the shape, not 10⁵ points. In the shadow phase the gate is paired (shadow vs primary on the same
requests), a different sequence: the answer is ``None`` there. Cost: one pass over the rollout's window,
like one controller tick.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from registry_client.analysis.sequential import METHOD, aipw_pseudo_outcomes, cumulative_bounds
from registry_client.domain.rollout import RolloutState
from registry_client.rollout.window import arm_rows, quality_of, window_of
from registry_client.store import Store

__all__ = ["MAX_POINTS", "quality_sequence"]

#: The most points one answer holds.
MAX_POINTS = 300


def _finite(values: np.ndarray) -> list[float | None]:
    return [float(v) if np.isfinite(v) else None for v in values]


def quality_sequence(
    store: Store, state: RolloutState, *, now: float, task: str, points: int = MAX_POINTS
) -> dict[str, Any] | None:
    """The quality gate's confidence sequence of canary − stable over the rollout's matured labelled rows:
    after each row (thinned to ``points``) its time, the rows so far per arm, the estimate and the bounds
    (``None`` before two rows); with the threshold (``−margin``) and the method. None in the shadow phase."""
    if state.resumes_to == "shadow" or state.phase == "shadow":
        return None
    spec = state.spec
    window = window_of(store, state, now=now)
    ts: list[float] = []
    quality: list[float] = []
    canary: list[bool] = []
    propensity: list[float] = []
    for row, on_canary in arm_rows(store, state, window):
        weight = window.weights[row.revision]
        if row.ts >= window.matured_before or not row.joined or not 0 < weight < 1:
            continue
        ts.append(row.ts)
        quality.append(quality_of(row, task))
        canary.append(on_canary)
        propensity.append(weight)
    body: dict[str, Any] = {
        "threshold": -spec.margin,
        "min_outcomes": spec.min_outcomes,
        "alpha": spec.alpha,
        "method": METHOD,
        "matured_before": window.matured_before,
        "ts": [],
        "n_canary": [],
        "n_stable": [],
        "estimate": [],
        "low": [],
        "high": [],
    }
    if not ts:
        return body
    arm = np.asarray(canary, dtype=bool)
    psi = aipw_pseudo_outcomes(np.asarray(quality), arm, np.asarray(propensity))
    means, low, high = cumulative_bounds(psi, alpha=spec.alpha, t_opt=spec.min_outcomes)
    keep = np.unique(np.linspace(0, len(ts) - 1, num=min(points, len(ts))).round().astype(int))
    n_canary = np.cumsum(arm)
    body.update(
        ts=[ts[i] for i in keep],
        n_canary=[int(n_canary[i]) for i in keep],
        n_stable=[int(i + 1 - n_canary[i]) for i in keep],
        estimate=_finite(means[keep]),
        low=_finite(low[keep]),
        high=_finite(high[keep]),
    )
    return body
