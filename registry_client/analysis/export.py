"""Streaming export of joined rows to Parquet, CSV or JSON Lines, and to a pandas DataFrame.

:func:`export_rows` consumes any iterable (a generator over the prediction log is the point) and
never holds more than one batch of rows, so memory stays bounded however many rows there are.
The file is written next to ``out`` under a temporary name and moved into place when complete,
so a failed export never leaves a truncated file behind.

Columns are native for analysts: ``ts`` a UTC timestamp (microseconds), ``prediction`` and
``outcome`` typed by the model's labels (:class:`~registry_client.analysis.labels.Labels`: int, float,
string or bool; JSON text only when versions have labels of several types), ``probabilities`` a
list of floats (null for a regressor) in the order of ``classes``, the version's class labels
(null when unknown or for a regressor). It raises :class:`~registry_client.errors.ExportError` (422)
for an unsupported extension, a folder that is not there, or a value that does not fit the labels or that
JSON cannot encode, and :class:`~registry_client.errors.ExportWriteError` (500) when the file could not
be written (disk full, I/O error).
"""

from __future__ import annotations

import csv
import importlib
import os
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from registry_client.analysis.joined import JoinedRow
from registry_client.analysis.labels import Labels
from registry_client.errors import ExportError, ExportWriteError

__all__ = [
    "BATCH_ROWS",
    "COLUMNS",
    "SUPPORTED_EXTENSIONS",
    "export_rows",
    "parquet_schema",
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
    "probabilities",
    "classes",
)
BATCH_ROWS = 10_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_Batch = list[JoinedRow]
_Writer = Callable[[Iterator[_Batch], Path, Labels], int]


def parquet_schema(labels: Labels) -> pa.Schema:
    """The Parquet (and Arrow) schema of an export whose labels are ``labels``."""
    encoding = {"encoding": "json"} if labels.kind == "json" else None
    return pa.schema(
        [
            ("prediction_id", pa.string()),
            ("request_id", pa.string()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("model", pa.string()),
            ("model_version", pa.string()),
            ("route", pa.string()),
            ("shadow", pa.bool_()),
            ("revision", pa.int64()),
            ("row_index", pa.int64()),
            ("inputs", pa.list_(pa.float64())),
            pa.field("prediction", labels.arrow, metadata=encoding),
            pa.field("outcome", labels.arrow, metadata=encoding),
            ("latency_ms", pa.float64()),
            ("probabilities", pa.list_(pa.float64())),
            pa.field("classes", pa.list_(labels.arrow), metadata=encoding),
        ]
    )


def _micros(ts: float) -> int:
    return round(ts * 1_000_000)


def _iso(ts: float) -> str:
    """ISO 8601 in UTC at the microsecond, as Parquet's timestamp holds it."""
    return (_EPOCH + timedelta(microseconds=_micros(ts))).isoformat(timespec="microseconds")


def _native(row: JoinedRow, labels: Labels) -> dict[str, Any]:
    """The row's columns: labels typed by ``labels``, ``ts`` still epoch seconds."""
    values = {name: getattr(row, name) for name in COLUMNS[:-1]}
    field = "prediction"
    try:
        values["prediction"] = labels.value(row.prediction)
        field = "outcome"
        values["outcome"] = labels.value(row.outcome)
        field = "classes"
        values["classes"] = labels.classes_of(row.model_version)
    except ExportError as exc:
        raise ExportError(
            f"model {row.model!r} version {row.model_version!r} request {row.request_id!r} "
            f"row {row.row_index}: {field} {exc}"
        ) from exc
    return values


def _batches(rows: Iterable[JoinedRow], size: int) -> Iterator[_Batch]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def _record_batch(batch: _Batch, labels: Labels) -> pa.RecordBatch:
    columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}
    for row in batch:
        if type(row.inputs) is dict:
            raise ExportError(
                f"model {row.model!r} version {row.model_version!r} takes named inputs, which the Parquet "
                "export's numeric 'inputs' column cannot hold: export to .jsonl or .csv (one JSON object per row)"
            )
        for name, value in _native(row, labels).items():
            columns[name].append(value)
    columns["ts"] = [_micros(ts) for ts in columns["ts"]]
    return pa.RecordBatch.from_pydict(columns, schema=parquet_schema(labels))


def _write_parquet(batches: Iterator[_Batch], path: Path, labels: Labels) -> int:
    written = 0
    with pq.ParquetWriter(path, parquet_schema(labels)) as writer:
        for batch in batches:
            writer.write_batch(_record_batch(batch, labels))
            written += len(batch)
    return written


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def _csv_record(row: JoinedRow, labels: Labels) -> list[Any]:
    values = _native(row, labels)
    values["ts"] = _iso(row.ts)
    for name in ("inputs", "probabilities", "classes"):
        values[name] = "" if values[name] is None else _json(values[name])
    return ["" if values[name] is None else values[name] for name in COLUMNS]


def _write_csv(batches: Iterator[_Batch], path: Path, labels: Labels) -> int:
    written = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for batch in batches:
            writer.writerows(_csv_record(row, labels) for row in batch)
            written += len(batch)
    return written


def _jsonl_record(row: JoinedRow, labels: Labels) -> bytes:
    if labels.kind == "json":  # JSON keeps 1 and "1" apart by itself: the labels stay as they are
        values = {name: getattr(row, name) for name in COLUMNS[:-1]}
        values["classes"] = labels.classes.get(row.model_version)
    else:
        values = _native(row, labels)
    values["ts"] = _iso(row.ts)
    return orjson.dumps(values, option=orjson.OPT_APPEND_NEWLINE)


def _write_jsonl(batches: Iterator[_Batch], path: Path, labels: Labels) -> int:
    written = 0
    with path.open("wb") as handle:
        for batch in batches:
            handle.write(b"".join(_jsonl_record(row, labels) for row in batch))
            written += len(batch)
    return written


_WRITERS: dict[str, _Writer] = {".csv": _write_csv, ".jsonl": _write_jsonl, ".parquet": _write_parquet}
SUPPORTED_EXTENSIONS = tuple(sorted(_WRITERS))
#: Errors of the destination the caller chose: a refusal (4xx), not a failure of the export.
_DESTINATION_ERRORS = (PermissionError, IsADirectoryError, NotADirectoryError, FileNotFoundError)


def _labelled(batches: Iterator[_Batch], labels: Labels | None) -> tuple[Iterator[_Batch], Labels]:
    """``labels``, or those the first batch's predictions and outcomes have, with the batches unconsumed."""
    if labels is not None:
        return batches, labels
    first = next(batches, [])
    inferred = Labels.of_values(value for row in first for value in (row.prediction, row.outcome))
    return chain([first] if first else [], batches), inferred


def _destination(out: Path) -> None:
    folder = out.parent
    if not folder.exists():
        raise ExportError(f"cannot export to {str(out)!r}: folder {str(folder)!r} does not exist")
    if not folder.is_dir():
        raise ExportError(f"cannot export to {str(out)!r}: {str(folder)!r} is not a folder")


def export_rows(
    rows: Iterable[JoinedRow], out: Path, *, labels: Labels | None = None, batch_rows: int = BATCH_ROWS
) -> int:
    """Write ``rows`` to ``out`` in the format its extension names; return the rows written.

    Columns, in this order: ``COLUMNS``; ``labels`` types prediction, outcome and classes (the CLI
    passes ``Labels.of_versions(registry.versions(model))``; without it the first batch's values
    decide and classes are null). Formats:

    * ``.parquet``: :func:`parquet_schema`, one row group per batch of ``batch_rows`` rows written
      with a ``ParquetWriter``; null for unjoined outcomes, and for a regressor's probabilities.
    * ``.csv``: a header row, then one line per row; ``ts`` ISO 8601 in UTC, labels as plain
      cells (empty when null), ``inputs``, ``probabilities`` and ``classes`` as JSON text,
      ``shadow`` ``True``/``False``.
    * ``.jsonl``: one JSON object per line with native values, ``ts`` ISO 8601 in UTC.

    Raises :class:`ExportError` for any other extension or a folder that is not there (nothing is
    written), or a value that does not fit ``labels`` or that JSON cannot encode (nothing is left).
    """
    if batch_rows < 1:
        raise ExportError(f"batch_rows must be at least 1, got {batch_rows}")
    writer = _WRITERS.get(out.suffix.lower())
    if writer is None:
        raise ExportError(
            f"cannot export to {str(out)!r}: unsupported extension {out.suffix!r}, "
            f"use one of {', '.join(SUPPORTED_EXTENSIONS)}"
        )
    _destination(out)
    partial = out.with_name(f".{out.name}.partial")
    try:
        batches, chosen = _labelled(_batches(rows, batch_rows), labels)
        written = writer(batches, partial, chosen)
        os.replace(partial, out)
    except orjson.JSONEncodeError as exc:
        partial.unlink(missing_ok=True)
        raise ExportError(f"cannot export to {str(out)!r}: {exc}") from exc
    except OSError as exc:
        partial.unlink(missing_ok=True)
        error = ExportError if isinstance(exc, _DESTINATION_ERRORS) else ExportWriteError
        raise error(f"cannot export to {str(out)!r}: {exc.strerror or exc}") from exc
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return written


def rows_to_dataframe(rows: Iterable[JoinedRow], *, labels: Labels | None = None) -> Any:
    """A ``pandas.DataFrame`` with ``COLUMNS`` and the export's types: ``ts`` ``datetime64[us, UTC]``,
    nullable ``Int64`` / ``Float64`` / ``boolean`` columns (``<NA>`` for an unjoined outcome), lists
    for inputs, probabilities and classes. ``labels`` as for :func:`export_rows`, else from all rows.

    pandas is optional: raises :class:`~registry_client.errors.ExportError` when it cannot be imported.
    """
    try:
        pandas = importlib.import_module("pandas")
    except ImportError as exc:
        raise ExportError("rows_to_dataframe() needs pandas, which is not installed: pip install pandas") from exc
    materialised = list(rows)
    if labels is None:
        labels = Labels.of_values(value for row in materialised for value in (row.prediction, row.outcome))
    table = pa.Table.from_batches([_record_batch(materialised, labels)], schema=parquet_schema(labels))
    nullable = {pa.int64(): pandas.Int64Dtype(), pa.float64(): pandas.Float64Dtype(), pa.bool_(): pandas.BooleanDtype()}
    return table.to_pandas(types_mapper=nullable.get)
