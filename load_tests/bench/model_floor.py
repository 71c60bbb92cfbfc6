"""The model's own cost: what one single-row request spends inside scikit-learn, timed in-process."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from load_tests.models import IRIS, dataset

__all__ = ["as_served", "per_call_us", "time_model"]


def per_call_us(fn: Any, rows: list[list[float]], n: int) -> float:
    """µs per ``fn(row)``, the best of three runs of ``n`` calls cycling through ``rows``."""
    best = float("inf")
    for _ in range(3):  # best of three: the floor, not the noise
        started = time.perf_counter()
        for i in range(n):
            fn(rows[i % len(rows)])
        best = min(best, (time.perf_counter() - started) / n * 1e6)
    return round(best, 1)


def as_served(model: Any) -> Any:
    """One single-row call of a classifier as the gateway makes it: labels and probabilities
    (:func:`service.dataplane.model_pool.labelled`)."""
    from service.dataplane.model_pool import labelled

    def call(row: list[float]) -> None:
        labelled(model, np.asarray([row], dtype=np.float64), proba=True)

    return call


def time_model(stable: Any, shadow: Any, n: int = 1000) -> dict[str, float]:
    """µs per single-row call: predict, predict_proba, both (what the gateway does), and the shadow's both."""
    rows = dataset(IRIS).rows
    both = as_served

    return {
        "predict_us": per_call_us(lambda r: stable.predict(np.asarray([r], dtype=np.float64)), rows, n),
        "predict_proba_us": per_call_us(lambda r: stable.predict_proba(np.asarray([r], dtype=np.float64)), rows, n),
        "predict_and_proba_us": per_call_us(both(stable), rows, n),
        "shadow_predict_and_proba_us": per_call_us(both(shadow), rows, max(50, n // 10)),
    }
