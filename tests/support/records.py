"""Prediction records for store and log tests."""

from __future__ import annotations

import time

from registry_client.domain.records import PredictionRecord


def make_record(
    i: int, *, model: str = "iris", request_id: str | None = None, shadow: bool = False, pid_width: int = 0
) -> PredictionRecord:
    """Record number ``i``: prediction_id ``p{i}`` (zero-padded to ``pid_width``), request_id ``r{i}``."""
    return PredictionRecord(
        prediction_id=f"p{i:0{pid_width}d}",
        request_id=request_id or f"r{i}",
        ts=time.time(),
        model=model,
        model_version="v1",
        route="stable",
        revision=1,
        inputs=[[1.0, 2.0]],
        predictions=[i],
        latency_ms=0.5,
        instance="test",
        shadow=shadow,
    )
