"""Request bodies: the same iris rows for every arm, in the gateway's shape or MLServer's V2 shape."""

from __future__ import annotations

from pathlib import Path

import orjson

from load_tests.models import IRIS, dataset

__all__ = ["gateway_bodies", "v2_bodies", "write_bodies"]

_KEYS = 1000  # distinct routing keys: the sticky canary sees a realistic spread of buckets


def _rows(i: int, size: int) -> list[list[float]]:
    rows = dataset(IRIS).rows
    return [rows[(i + j) % len(rows)] for j in range(size)]


def gateway_bodies(n: int = _KEYS, rows: int = 1) -> list[bytes]:
    """``{"model", "inputs": [[row], …], "routing_key"}`` with ``rows`` rows each (bare BentoML ignores the
    extra fields)."""
    return [orjson.dumps({"model": IRIS, "inputs": _rows(i, rows), "routing_key": f"customer-{i}"}) for i in range(n)]


def v2_bodies(n: int = _KEYS, rows: int = 1) -> list[bytes]:
    """The V2 inference protocol body asking for what the gateway answers: labels and class probabilities."""
    return [
        orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "input-0",
                        "shape": [rows, 4],
                        "datatype": "FP64",
                        "data": [x for row in _rows(i, rows) for x in row],
                    }
                ],
                "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
            }
        )
        for i in range(n)
    ]


def write_bodies(path: Path, bodies: list[bytes]) -> Path:
    """One body per line, for wrk's Lua script."""
    path.write_bytes(b"\n".join(bodies) + b"\n")
    return path
