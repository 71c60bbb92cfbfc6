"""Tests of the streaming export to Parquet, CSV and JSON Lines, and of the DataFrame view."""

from __future__ import annotations

import csv
import importlib.util
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from registry_client import export
from registry_client.errors import CanarylineError
from registry_client.export import (
    COLUMNS,
    ExportError,
    PandasUnavailableError,
    export_rows,
    rows_to_dataframe,
)
from registry_client.joined import JoinedRow


def _row(i: int, *, prediction: Any = None, outcome: Any = None, shadow: bool = False) -> JoinedRow:
    return JoinedRow(
        prediction_id=f"pred-{i // 2:08d}",
        request_id=f"req-{i // 2:08d}",
        ts=1_700_000_000.0 + i / 8,
        model="iris",
        model_version="v2" if i % 3 == 0 else "v1",
        route="canary" if i % 3 == 0 else "stable",
        shadow=shadow,
        revision=4,
        row_index=i % 2,
        inputs=[float(i), i / 3, -1.5, 1e-300],
        prediction=f"label-{i % 3}" if prediction is None else prediction,
        outcome=outcome,
        latency_ms=3.25 + i,
    )


def _sample() -> list[JoinedRow]:
    """Labels of several JSON types, joined and unjoined rows, a shadow row."""
    return [
        _row(0, prediction="setosa", outcome="setosa"),
        _row(1, prediction=2, outcome=1),
        _row(2, prediction=0.75, outcome=None),
        _row(3, prediction=[0, 1], outcome=[1, 1], shadow=True),
        _row(4, prediction=True, outcome=False),
    ]


def _native(row: JoinedRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in COLUMNS}


def test_public_surface() -> None:
    """The module exports the column layout, the errors and the two functions."""
    assert set(export.__all__) == {
        "BATCH_ROWS",
        "COLUMNS",
        "PARQUET_SCHEMA",
        "SUPPORTED_EXTENSIONS",
        "ExportError",
        "PandasUnavailableError",
        "export_rows",
        "rows_to_dataframe",
    }
    assert export.SUPPORTED_EXTENSIONS == (".csv", ".jsonl", ".parquet")


def test_parquet_round_trips_with_the_documented_schema(tmp_path: Path) -> None:
    """Parquet has the documented columns; inputs are list<double>, labels JSON strings."""
    out = tmp_path / "rows.parquet"
    assert export_rows(_sample(), out) == 5
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    assert table.schema.field("inputs").type == pa.list_(pa.float64())
    assert table.schema.field("prediction").type == pa.string()
    assert table.schema.field("shadow").type == pa.bool_()
    for got, row in zip(table.to_pylist(), _sample(), strict=True):
        expected = _native(row)
        assert orjson.loads(got.pop("prediction")) == expected.pop("prediction")
        outcome = got.pop("outcome")
        assert (None if outcome is None else orjson.loads(outcome)) == expected.pop("outcome")
        assert got == expected


def test_parquet_keeps_int_and_str_labels_apart(tmp_path: Path) -> None:
    """The label 1 and the label "1" stay distinguishable after the round trip."""
    out = tmp_path / "rows.parquet"
    export_rows([_row(0, prediction=1, outcome="1")], out)
    (got,) = pq.read_table(out).to_pylist()
    assert (got["prediction"], got["outcome"]) == ("1", '"1"')


def test_parquet_is_written_in_row_groups_of_one_batch(tmp_path: Path) -> None:
    """Ten rows in batches of three make four row groups."""
    out = tmp_path / "rows.parquet"
    assert export_rows((_row(i) for i in range(10)), out, batch_rows=3) == 10
    metadata = pq.ParquetFile(out).metadata
    assert (metadata.num_rows, metadata.num_row_groups) == (10, 4)


def test_csv_round_trips_with_json_cells(tmp_path: Path) -> None:
    """CSV has a header row; inputs, prediction and outcome are JSON, unjoined is empty."""
    out = tmp_path / "rows.csv"
    assert export_rows(_sample(), out) == 5
    with out.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        got = list(reader)
    for line, row in zip(got, _sample(), strict=True):
        assert orjson.loads(line["inputs"]) == row.inputs
        assert orjson.loads(line["prediction"]) == row.prediction
        assert (orjson.loads(line["outcome"]) if line["outcome"] else None) == row.outcome
        assert float(line["ts"]) == row.ts and float(line["latency_ms"]) == row.latency_ms
        assert (int(line["revision"]), int(line["row_index"])) == (row.revision, row.row_index)
        assert line["shadow"] == str(row.shadow)
        assert (line["prediction_id"], line["model_version"], line["route"]) == (
            row.prediction_id,
            row.model_version,
            row.route,
        )


def test_jsonl_round_trips_native_values(tmp_path: Path) -> None:
    """Each JSON Lines line is one row with native values and null for unjoined."""
    out = tmp_path / "rows.jsonl"
    assert export_rows(iter(_sample()), out) == 5
    lines = out.read_bytes().splitlines()
    assert [orjson.loads(line) for line in lines] == [_native(row) for row in _sample()]
    assert list(orjson.loads(lines[0])) == list(COLUMNS)


@pytest.mark.parametrize("name", ["empty.parquet", "empty.csv", "empty.jsonl"])
def test_no_rows_still_writes_a_readable_file(tmp_path: Path, name: str) -> None:
    """Exporting nothing returns 0 and leaves a valid empty file (with the schema or header)."""
    out = tmp_path / name
    assert export_rows([], out) == 0
    if name.endswith(".parquet"):
        table = pq.read_table(out)
        assert (table.num_rows, table.column_names) == (0, list(COLUMNS))
    elif name.endswith(".csv"):
        assert out.read_text(encoding="utf-8").strip() == ",".join(COLUMNS)
    else:
        assert out.read_bytes() == b""


def test_extension_case_does_not_matter(tmp_path: Path) -> None:
    """rows.CSV is exported as CSV."""
    out = tmp_path / "rows.CSV"
    assert export_rows(_sample(), out) == 5
    assert out.read_text(encoding="utf-8").startswith("prediction_id,")


def test_unknown_extension_names_the_supported_ones(tmp_path: Path) -> None:
    """An unknown extension raises a 422 ExportError listing .csv, .jsonl, .parquet; no file."""
    out = tmp_path / "rows.xlsx"
    with pytest.raises(ExportError, match=r"'\.xlsx'.*\.csv, \.jsonl, \.parquet") as caught:
        export_rows(_sample(), out)
    assert isinstance(caught.value, CanarylineError) and caught.value.status == 422
    assert list(tmp_path.iterdir()) == []


def test_a_failing_source_leaves_no_file(tmp_path: Path) -> None:
    """When the row source raises midway the error propagates and no file is left behind."""

    def broken() -> Iterator[JoinedRow]:
        yield _row(0)
        raise RuntimeError("store went away")

    for name in ("rows.parquet", "rows.csv", "rows.jsonl"):
        with pytest.raises(RuntimeError, match="store went away"):
            export_rows(broken(), tmp_path / name, batch_rows=1)
    assert list(tmp_path.iterdir()) == []


def test_a_failed_export_keeps_the_previous_file(tmp_path: Path) -> None:
    """A failed export does not truncate an earlier export at the same path."""
    out = tmp_path / "rows.jsonl"
    export_rows(_sample(), out)
    before = out.read_bytes()
    with pytest.raises(ExportError):
        export_rows([_row(0, prediction=object())], out)
    assert out.read_bytes() == before


@pytest.mark.parametrize("name", ["rows.parquet", "rows.csv", "rows.jsonl"])
def test_a_value_json_cannot_encode_raises_export_error(tmp_path: Path, name: str) -> None:
    """A prediction that is not JSON raises ExportError naming the file."""
    with pytest.raises(ExportError, match=name):
        export_rows([_row(0, prediction={1j})], tmp_path / name)


def test_batch_rows_must_be_positive(tmp_path: Path) -> None:
    """batch_rows=0 is refused instead of silently writing nothing."""
    with pytest.raises(ExportError, match="batch_rows"):
        export_rows(_sample(), tmp_path / "rows.csv", batch_rows=0)


def _generated(count: int) -> Iterator[JoinedRow]:
    for i in range(count):
        yield _row(i, outcome=f"label-{i % 3}" if i % 4 else None)


def _materialised_bytes(count: int) -> int:
    """Traced bytes it takes to hold ``count`` generated rows in a list."""
    tracemalloc.start()
    try:
        rows = list(_generated(count))
        size = tracemalloc.get_traced_memory()[0]
        del rows
    finally:
        tracemalloc.stop()
    return size


def test_parquet_export_memory_is_bounded(tmp_path: Path) -> None:
    """100,000 generated rows export in batches with a traced peak far below what holding them would take."""
    count, batch_rows = 100_000, 2_000
    needed = _materialised_bytes(10_000) * (count // 10_000)
    out = tmp_path / "big.parquet"
    tracemalloc.start()
    try:
        written = export_rows(_generated(count), out, batch_rows=batch_rows)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert written == count
    assert pq.ParquetFile(out).metadata.num_rows == count
    assert pq.ParquetFile(out).metadata.num_row_groups == count // batch_rows
    # Holding every row (what a non-streaming export does) peaks at about `needed`; streaming holds one batch.
    assert needed > 30_000_000
    assert peak < needed / 5, f"peak {peak:,} B vs {needed:,} B to materialise"


@pytest.mark.skipif(importlib.util.find_spec("pandas") is not None, reason="pandas is installed")
def test_dataframe_without_pandas_raises_a_clear_error() -> None:
    """Without pandas, rows_to_dataframe raises PandasUnavailableError saying to install it."""
    with pytest.raises(PandasUnavailableError, match="pip install pandas") as caught:
        rows_to_dataframe(_sample())
    assert isinstance(caught.value, CanarylineError)


def test_dataframe_has_the_columns_and_native_values() -> None:
    """The DataFrame has the export's columns, one row per joined row, native values."""
    pytest.importorskip("pandas")
    frame = rows_to_dataframe(iter(_sample()))
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 5
    assert frame["prediction"].tolist() == [row.prediction for row in _sample()]
    assert frame["outcome"].tolist()[:2] == ["setosa", 1]
    assert frame["outcome"].isna().tolist() == [False, False, True, False, False]
    assert frame["inputs"].iloc[0] == _sample()[0].inputs
