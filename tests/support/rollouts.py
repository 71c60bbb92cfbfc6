"""A rollout decision's quality gate recomputed from an export, with only what its evidence records: the
window (revisions, weights, time range, matured cut-off), the arms and the thresholds."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pytest

from registry_client.analysis.sequential import SequenceEstimate, difference_sequence


def quality_from_export(rows: list[dict[str, Any]], evidence: dict[str, Any]) -> SequenceEstimate:
    """Canary − stable accuracy over the exported ``rows`` that the evidence's window covers."""
    window, arms = evidence["window"], evidence["arms"]
    weights = {int(k): v for k, v in window["weights"].items()}
    quality, canary, propensity = [], [], []
    for row in rows:
        ts = datetime.fromisoformat(row["ts"]).timestamp()
        on_canary = (row["route"], row["model_version"]) == ("canary", arms["canary"])
        on_stable = (row["route"], row["model_version"]) == ("stable", arms["stable"])
        if row["revision"] not in weights or not (on_canary or on_stable) or row["outcome"] is None:
            continue
        if not window["since"] <= ts < window["matured_before"]:
            continue
        quality.append(float(row["prediction"] == row["outcome"]))
        canary.append(on_canary)
        propensity.append(weights[row["revision"]])
    return difference_sequence(
        np.array(quality),
        np.array(canary, dtype=bool),
        np.array(propensity),
        alpha=evidence["thresholds"]["alpha"],
        t_opt=evidence["thresholds"]["min_outcomes"],
    )


def assert_recomputed(again: SequenceEstimate, evidence: dict[str, Any]) -> None:
    """The recomputed sequence has the recorded quality gate's counts, method, estimate and bounds."""
    recorded = next(g for g in evidence["gates"] if g["gate"] == "quality")
    assert (again.n_canary, again.n_stable) == (recorded["n_canary"], recorded["n_stable"])
    assert again.method == recorded["method"]
    for field in ("estimate", "low", "high"):
        assert getattr(again, field) == pytest.approx(recorded[field], abs=1e-12)
