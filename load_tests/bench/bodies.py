"""Request bodies: the same rows for every arm, in the gateway's shape or MLServer's V2 shape (iris rows unless
``source`` gives others, ``model`` naming the gateway's model they go to)."""

from __future__ import annotations

from pathlib import Path

import orjson

from load_tests.models import IRIS, dataset

__all__ = ["gateway_bodies", "v2_bodies", "write_bodies"]

_KEYS = 1000  # distinct routing keys: the sticky canary sees a realistic spread of buckets


def _rows(i: int, size: int, source: list[list[float]] | None) -> list[list[float]]:
    rows = source if source is not None else dataset(IRIS).rows
    return [rows[(i + j) % len(rows)] for j in range(size)]


def gateway_bodies(
    n: int = _KEYS, rows: int = 1, *, model: str = IRIS, source: list[list[float]] | None = None
) -> list[bytes]:
    """``{"model", "inputs": [[row], …], "routing_key"}`` with ``rows`` rows each (bare BentoML ignores the
    extra fields)."""
    return [
        orjson.dumps({"model": model, "inputs": _rows(i, rows, source), "routing_key": f"customer-{i}"})
        for i in range(n)
    ]


def v2_bodies(n: int = _KEYS, rows: int = 1, *, source: list[list[float]] | None = None) -> list[bytes]:
    """The V2 inference protocol body asking for what the gateway answers: labels and class probabilities."""
    bodies = []
    for i in range(n):
        batch = _rows(i, rows, source)
        tensor = {
            "name": "input-0",
            "shape": [rows, len(batch[0])],
            "datatype": "FP64",
            "data": [x for row in batch for x in row],
        }
        bodies.append(orjson.dumps({"inputs": [tensor], "outputs": [{"name": "predict"}, {"name": "predict_proba"}]}))
    return bodies


def write_bodies(path: Path, bodies: list[bytes]) -> Path:
    """One body per line, for wrk's Lua script."""
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path
