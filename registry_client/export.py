"""Streaming export of joined rows to Parquet, CSV or JSON Lines, and to a pandas DataFrame.

:func:`export_rows` consumes any iterable (a generator over the prediction log is the point) and
never holds more than one batch of rows, so memory stays bounded however many rows there are.
The file is written next to ``out`` under a temporary name and moved into place when complete,
so a failed export never leaves a truncated file behind. Errors::

    CanarylineError
    └── ExportError (422)                 unsupported extension, or a value JSON cannot encode
        └── PandasUnavailableError (500)  rows_to_dataframe() without pandas installed
"""

from __future__ import annotations

import csv
import importlib
import os
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import CanarylineError
from .joined import JoinedRow

__all__ = [
    "BATCH_ROWS",
    "COLUMNS",
    "PARQUET_SCHEMA",
    "SUPPORTED_EXTENSIONS",
    "ExportError",
    "PandasUnavailableError",
    "export_rows",
    "rows_to_dataframe",
]

COLUMNS = (
    "prediction_id",
    "request_id",
    "ts",
    "model",
    "model_version",
    "route",
    "shadow",
    "revision",
    "row_index",
    "inputs",
    "prediction",
    "outcome",
    "latency_ms",
)
#: prediction and outcome are JSON text because labels may be ints or strings (or lists);
#: outcome is null for an unjoined row.
PARQUET_SCHEMA = pa.schema(
    [
        ("prediction_id", pa.string()),
        ("request_id", pa.string()),
        ("ts", pa.float64()),
        ("model", pa.string()),
        ("model_version", pa.string()),
        ("route", pa.string()),
        ("shadow", pa.bool_()),
        ("revision", pa.int64()),
        ("row_index", pa.int64()),
        ("inputs", pa.list_(pa.float64())),
        ("prediction", pa.string()),
        ("outcome", pa.string()),
        ("latency_ms", pa.float64()),
    ]
)
BATCH_ROWS = 10_000


class ExportError(CanarylineError):
    status = 422
    code = "export_error"


class PandasUnavailableError(ExportError):
    status = 500
    code = "pandas_unavailable"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _batches(rows: Iterable[JoinedRow], size: int) -> Iterator[list[JoinedRow]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _parquet_columns(batch: list[JoinedRow]) -> dict[str, list[Any]]:
    columns = {name: [getattr(row, name) for row in batch] for name in COLUMNS}
    columns["prediction"] = [_json(value) for value in columns["prediction"]]
    columns["outcome"] = [None if value is None else _json(value) for value in columns["outcome"]]
    return columns


def _write_parquet(rows: Iterable[JoinedRow], path: Path, batch_rows: int) -> int:
    written = 0
    with pq.ParquetWriter(path, PARQUET_SCHEMA) as writer:
        for batch in _batches(rows, batch_rows):
            columns = _parquet_columns(batch)
            writer.write_batch(pa.RecordBatch.from_pydict(columns, schema=PARQUET_SCHEMA))
            written += len(batch)
    return written


def _csv_record(row: JoinedRow) -> list[Any]:
    record: list[Any] = [getattr(row, name) for name in COLUMNS]
    record[COLUMNS.index("inputs")] = _json(row.inputs)
    record[COLUMNS.index("prediction")] = _json(row.prediction)
    record[COLUMNS.index("outcome")] = "" if row.outcome is None else _json(row.outcome)
    return record


def _write_csv(rows: Iterable[JoinedRow], path: Path, batch_rows: int) -> int:
    written = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for batch in _batches(rows, batch_rows):
            writer.writerows(_csv_record(row) for row in batch)
            written += len(batch)
    return written


def _write_jsonl(rows: Iterable[JoinedRow], path: Path, batch_rows: int) -> int:
    written = 0
    with path.open("wb") as handle:
        for batch in _batches(rows, batch_rows):
            handle.write(
                b"".join(
                    orjson.dumps(
                        {name: getattr(row, name) for name in COLUMNS},
                        option=orjson.OPT_APPEND_NEWLINE,
                    )
                    for row in batch
                )
            )
            written += len(batch)
    return written


_WRITERS: dict[str, Callable[[Iterable[JoinedRow], Path, int], int]] = {
    ".csv": _write_csv,
    ".jsonl": _write_jsonl,
    ".parquet": _write_parquet,
}
SUPPORTED_EXTENSIONS = tuple(sorted(_WRITERS))


def export_rows(rows: Iterable[JoinedRow], out: Path, *, batch_rows: int = BATCH_ROWS) -> int:
    """Write ``rows`` to ``out`` in the format its extension names; return the rows written.

    Columns, in this order: ``COLUMNS``. Formats:

    * ``.parquet``: ``PARQUET_SCHEMA``, one row group per batch of ``batch_rows`` rows written
      with a ``ParquetWriter``; ``inputs`` is ``list<double>``; ``prediction`` and ``outcome``
      are JSON strings (labels may be ints or strings), ``outcome`` is null when unjoined.
    * ``.csv``: a header row, then one line per row; ``inputs``, ``prediction`` and ``outcome``
      are JSON text, ``outcome`` is an empty cell when unjoined; ``shadow`` is ``True``/``False``.
    * ``.jsonl``: one JSON object per line with native values (``outcome`` null when unjoined).

    Raises :class:`ExportError` for any other extension (nothing is written), or when a
    prediction or outcome cannot be encoded as JSON.
    """
    if batch_rows < 1:
        raise ExportError(f"batch_rows must be at least 1, got {batch_rows}")
    writer = _WRITERS.get(out.suffix.lower())
    if writer is None:
        raise ExportError(
            f"cannot export to {str(out)!r}: unsupported extension {out.suffix!r}, "
            f"use one of {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    partial = out.with_name(f".{out.name}.partial")
    try:
        written = writer(rows, partial, batch_rows)
    except orjson.JSONEncodeError as exc:
        partial.unlink(missing_ok=True)
        raise ExportError(f"cannot export to {str(out)!r}: {exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    os.replace(partial, out)
    return written


def rows_to_dataframe(rows: Iterable[JoinedRow]) -> Any:
    """A ``pandas.DataFrame`` with ``COLUMNS``, native values (``outcome`` None when unjoined).

    pandas is optional: raises :class:`PandasUnavailableError` when it cannot be imported.
    """
    try:
        pandas = importlib.import_module("pandas")
    except ImportError as exc:
        raise PandasUnavailableError(
            "rows_to_dataframe() needs pandas, which is not installed: pip install pandas"
        ) from exc
    records = [{name: getattr(row, name) for name in COLUMNS} for row in rows]
    return pandas.DataFrame.from_records(records, columns=list(COLUMNS))
