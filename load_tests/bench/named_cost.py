"""``python -m load_tests.bench.named_cost``: what named-input validation costs per row, without HTTP.

The data plane's own functions, on decoded JSON (the body's parse is the same for both and left out):
``parse_named`` + ``validate_named`` (:mod:`service.dataplane.named_inputs`) for rows of an eight-field
schema (four numbers, an integer, a boolean, a category, a string), sent as records and as columns, against
``parse_rows`` + ``check_width`` (:mod:`service.dataplane.validation`) for a numeric matrix of the same
width: the path every matrix request takes. For 1, 10, 100 and 1,000 rows a request, each arm runs until it
has validated ``rows_per_run`` rows, interleaved over rounds; the best round is reported (CPU time of this
thread: other processes on a shared machine only ever add to it).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from registry_client.domain.schema import Field, InputSchema

__all__ = ["BATCHES", "SCHEMA", "measure"]

BATCHES = (1, 10, 100, 1000)
SCHEMA = InputSchema(
    (
        Field("sepal_length", "number"),
        Field("sepal_width", "number", nullable=True),
        Field("petal_length", "number"),
        Field("petal_width", "number"),
        Field("sepal_mm", "integer"),
        Field("wide", "boolean"),
        Field("petal_band", "category", categories=("short", "medium", "long")),
        Field("note", "string"),
    )
)
_MAX_LENGTH = 16384  # the gateway's default CANARYLINE_MAX_STRING_LENGTH
_BANDS = ("short", "medium", "long")


def _record(i: int) -> dict[str, Any]:
    return {
        "sepal_length": 5.1 + i % 7 / 10,
        "sepal_width": None if i % 11 == 0 else 3.5,
        "petal_length": 1.4 + i % 5 / 10,
        "petal_width": 0.2,
        "sepal_mm": 51 + i % 9,
        "wide": i % 2 == 0,
        "petal_band": _BANDS[i % 3],
        "note": f"row {i}: short petals on wide sepals",
    }


def _matrix_row(i: int) -> list[float]:
    return [5.1 + i % 7 / 10, 3.5, 1.4 + i % 5 / 10, 0.2, 51 + i % 9, float(i % 2), float(i % 3), 1.0]


def _arms(rows: int) -> dict[str, Callable[[], Any]]:
    from service.dataplane.named_inputs import parse_named, validate_named
    from service.dataplane.validation import check_width, parse_rows

    records = [_record(i) for i in range(rows)]
    columns = {name: [r[name] for r in records] for name in SCHEMA.names}
    matrix = [_matrix_row(i) for i in range(rows)]
    width = len(SCHEMA.fields)

    def named(value: Any) -> Callable[[], Any]:
        def call() -> Any:
            parsed = parse_named(value, field="inputs", max_batch=1000)
            assert parsed is not None
            return validate_named(parsed, SCHEMA, max_length=_MAX_LENGTH, model="bench", version="v1")

        return call

    def numeric() -> Any:
        checked = parse_rows(matrix, field="inputs", max_batch=1000)
        check_width(checked, width, model="bench", version="v1")
        return checked

    return {"matrix": numeric, "named-records": named(records), "named-columns": named(columns)}


def _us_per_row(call: Callable[[], Any], rows: int, rows_per_run: int) -> float:
    calls = max(1, rows_per_run // rows)
    started = time.thread_time()
    for _ in range(calls):
        call()
    return (time.thread_time() - started) / (calls * rows) * 1e6


def measure(rounds: int = 5, rows_per_run: int = 20_000) -> dict[str, Any]:
    """µs per row (and per request) of each arm for each batch size, the best of ``rounds``; per-round values too."""
    results: dict[str, Any] = {}
    for rows in BATCHES:
        arms = _arms(rows)
        for call in arms.values():  # warm-up: the schema's rules are made once (lru_cache), as in a server
            _us_per_row(call, rows, rows_per_run // 10)
        samples: dict[str, list[float]] = {name: [] for name in arms}
        names = list(arms)
        for index in range(rounds):
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(_us_per_row(arms[name], rows, rows_per_run))
        best = {name: min(values) for name, values in samples.items()}
        results[str(rows)] = {
            name: {
                "us_per_row": round(best[name], 3),
                "us_per_request": round(best[name] * rows, 1),
                "per_round_us_per_row": [round(v, 3) for v in values],
                "x_matrix": round(best[name] / best["matrix"], 2) if best["matrix"] else None,
            }
            for name, values in samples.items()
        }
    return {
        "rounds": rounds,
        "rows_per_run": rows_per_run,
        "fields": [f"{f.name}: {f.kind}{' (nullable)' if f.nullable else ''}" for f in SCHEMA.fields],
        "batches": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m load_tests.bench.named_cost", description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rows", type=int, default=20_000, help="rows each arm validates per round and batch size")
    args = parser.parse_args(argv)
    figures = measure(args.rounds, args.rows)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
