"""The one factory of prediction records for store, log, metrics and analysis tests."""

from __future__ import annotations

import time
from typing import Any, TypedDict, Unpack

from registry_client.domain.records import PredictionRecord


class RecordFields(TypedDict, total=False):
    """Every field of a PredictionRecord, each optional: what a test overrides."""

    prediction_id: str
    request_id: str
    ts: float
    model: str
    model_version: str
    route: str
    revision: int
    inputs: list[list[float]]
    predictions: list[Any]
    latency_ms: float
    instance: str
    shadow: bool
    probabilities: list[list[float]] | None
    trace_id: str | None
    primary_id: str | None


def make_record(i: int = 0, *, pid_width: int = 0, rows: int = 1, **fields: Unpack[RecordFields]) -> PredictionRecord:
    """Record number ``i``: prediction_id ``p{i}`` (zero-padded to ``pid_width``), request_id ``r{i}``, ``rows``
    input rows of ``[1.0, 2.0]`` each predicted ``i``, model ``iris`` v1 on the stable route at revision 1, now;
    every field can be overridden by keyword."""
    defaults: RecordFields = {
        "prediction_id": f"p{i:0{pid_width}d}",
        "request_id": f"r{i}",
        "ts": time.time(),
        "model": "iris",
        "model_version": "v1",
        "route": "stable",
        "revision": 1,
        "inputs": [[1.0, 2.0] for _ in range(rows)],
        "predictions": [i] * rows,
        "latency_ms": 0.5,
        "instance": "test",
    }
    defaults.update(fields)
    return PredictionRecord(**defaults)
