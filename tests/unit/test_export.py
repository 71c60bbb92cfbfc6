"""Tests of the streaming export to Parquet, CSV and JSON Lines, and of the DataFrame view: native column types."""

from __future__ import annotations

import csv
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from registry_client.analysis.export import COLUMNS, export_rows, parquet_schema, rows_to_dataframe
from registry_client.analysis.joined import JoinedRow
from registry_client.analysis.labels import Labels
from registry_client.errors import CanarylineError, ExportError
from registry_client.registry.registry import ModelVersion

T0 = 1_700_000_000.0
CLASSES = {"v1": [0, 1, 2], "v2": [0, 1, 2]}


def _version(version: str, task: str, classes: list[Any] | None) -> ModelVersion:
    created = datetime(2024, 1, 1, tzinfo=UTC)
    return ModelVersion("iris", version, created, task, "bentoml.sklearn", "0" * 64, 4, classes)  # type: ignore[arg-type]


INT_LABELS = Labels.of_versions(
    [_version("v1", "classification", [0, 1, 2]), _version("v2", "classification", [0, 1, 2])]
)


def _row(
    i: int,
    *,
    prediction: Any = None,
    outcome: Any = None,
    shadow: bool = False,
    probabilities: list[float] | None = None,
    version: str | None = None,
) -> JoinedRow:
    return JoinedRow(
        prediction_id=f"pred-{i // 2:08d}",
        request_id=f"req-{i // 2:08d}",
        ts=T0 + i / 8 + 0.000_000_4,
        model="iris",
        model_version=version or ("v2" if i % 3 == 0 else "v1"),
        route="canary" if i % 3 == 0 else "stable",
        shadow=shadow,
        revision=4,
        row_index=i % 2,
        inputs=[float(i), i / 3, -1.5, 1e-300],
        prediction=i % 3 if prediction is None else prediction,
        outcome=outcome,
        latency_ms=3.25 + i,
        probabilities=probabilities,
    )


def _classified() -> list[JoinedRow]:
    """An int-label classifier: joined and unjoined rows, a shadow row, probabilities on every row."""
    return [
        _row(0, prediction=0, outcome=0, probabilities=[0.9, 0.05, 0.05]),
        _row(1, prediction=2, outcome=1, probabilities=[0.1, 0.2, 0.7]),
        _row(2, prediction=1, outcome=None, probabilities=[0.2, 0.5, 0.3]),
        _row(3, prediction=1, outcome=1, shadow=True, probabilities=[0.0, 1.0, 0.0]),
    ]


def _utc(ts: float) -> datetime:
    """ts at the microsecond, as the export stores it."""
    return datetime.fromtimestamp(round(ts * 1_000_000) / 1_000_000, UTC)


def test_parquet_columns_are_native_for_an_int_classifier(tmp_path: Path) -> None:
    """ts is timestamp[us, UTC]; prediction and outcome int64 (null unjoined); probabilities list<double>; classes."""
    out = tmp_path / "rows.parquet"
    assert export_rows(_classified(), out, labels=INT_LABELS) == 4
    table = pq.read_table(out)
    assert table.column_names == list(COLUMNS)
    schema = table.schema
    assert schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert (schema.field("prediction").type, schema.field("outcome").type) == (pa.int64(), pa.int64())
    assert schema.field("probabilities").type == pa.list_(pa.float64())
    assert schema.field("classes").type == pa.list_(pa.int64())
    assert schema.field("inputs").type == pa.list_(pa.float64())
    for got, row in zip(table.to_pylist(), _classified(), strict=True):
        assert got["ts"] == _utc(row.ts)
        assert (got["prediction"], got["outcome"]) == (row.prediction, row.outcome)
        assert got["probabilities"] == row.probabilities
        assert got["classes"] == CLASSES[row.model_version]
        assert (got["request_id"], got["shadow"], got["row_index"], got["inputs"]) == (
            row.request_id,
            row.shadow,
            row.row_index,
            row.inputs,
        )


def test_regressor_columns_are_float_with_null_probabilities(tmp_path: Path) -> None:
    """A regressor's prediction and outcome are float64 (an int outcome too); probabilities and classes are null."""
    labels = Labels.of_versions([_version("v1", "regression", None), _version("v2", "regression", None)])
    out = tmp_path / "rows.parquet"
    export_rows([_row(0, prediction=151.25, outcome=175), _row(1, prediction=80.5, outcome=None)], out, labels=labels)
    table = pq.read_table(out)
    assert (table.schema.field("prediction").type, table.schema.field("outcome").type) == (pa.float64(), pa.float64())
    assert [(r["prediction"], r["outcome"], r["probabilities"], r["classes"]) for r in table.to_pylist()] == [
        (151.25, 175.0, None, None),
        (80.5, None, None, None),
    ]


def test_string_labels_are_strings(tmp_path: Path) -> None:
    """A classifier trained on text labels exports prediction, outcome and classes as strings."""
    names = ["setosa", "versicolor"]
    labels = Labels.of_versions([_version("v1", "classification", names)])
    out = tmp_path / "rows.parquet"
    export_rows([_row(1, prediction="setosa", outcome="versicolor", version="v1")], out, labels=labels)
    [got] = pq.read_table(out).to_pylist()
    assert (got["prediction"], got["outcome"], got["classes"]) == ("setosa", "versicolor", names)
    assert pq.read_table(out).schema.field("classes").type == pa.list_(pa.string())


def test_labels_of_several_types_fall_back_to_json_text_and_say_so(tmp_path: Path) -> None:
    """Versions with int and str labels: prediction and outcome are JSON text, so 1 and "1" stay apart."""
    labels = Labels.of_versions(
        [_version("v1", "classification", [0, 1]), _version("v2", "classification", ["0", "1"])]
    )
    assert (
        labels is not None
        and labels.note is not None
        and "model 'iris' has labels of several types (int, str)" in labels.note
    )
    out = tmp_path / "rows.parquet"
    export_rows(
        [_row(1, prediction=1, outcome=0, version="v1"), _row(0, prediction="1", version="v2")], out, labels=labels
    )
    table = pq.read_table(out)
    assert [(r["prediction"], r["outcome"], r["classes"]) for r in table.to_pylist()] == [
        ("1", "0", ["0", "1"]),
        ('"1"', None, ['"0"', '"1"']),
    ]
    assert table.schema.field("prediction").metadata == {b"encoding": b"json"}


def test_without_labels_the_type_is_taken_from_the_first_rows(tmp_path: Path) -> None:
    """Without labels, int predictions make int64 columns and classes are null (unknown)."""
    out = tmp_path / "rows.parquet"
    export_rows(_classified(), out)
    table = pq.read_table(out)
    assert table.schema.field("prediction").type == pa.int64()
    assert table.column("classes").to_pylist() == [None] * 4


def test_a_value_that_does_not_fit_the_labels_names_the_row(tmp_path: Path) -> None:
    """A text prediction among int labels raises ExportError naming version, request and row; no file is left."""
    with pytest.raises(ExportError, match=r"version 'v1' request 'req-00000000' row 1: prediction 'cat' is not an int"):
        export_rows([_row(1, prediction="cat")], tmp_path / "rows.parquet", labels=INT_LABELS)
    assert list(tmp_path.iterdir()) == []


def test_parquet_is_written_in_row_groups_of_one_batch(tmp_path: Path) -> None:
    """Ten rows in batches of three make four row groups."""
    out = tmp_path / "rows.parquet"
    assert export_rows((_row(i) for i in range(10)), out, batch_rows=3, labels=INT_LABELS) == 10
    metadata = pq.ParquetFile(out).metadata
    assert (metadata.num_rows, metadata.num_row_groups) == (10, 4)


def test_csv_cells_are_native_text(tmp_path: Path) -> None:
    """CSV: ts ISO 8601 UTC, labels as plain values, empty when unjoined; list columns as JSON."""
    out = tmp_path / "rows.csv"
    assert export_rows(_classified(), out, labels=INT_LABELS) == 4
    with out.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        got = list(reader)
    for line, row in zip(got, _classified(), strict=True):
        assert datetime.fromisoformat(line["ts"]) == _utc(row.ts) and line["ts"].endswith("+00:00")
        assert line["prediction"] == str(row.prediction)
        assert line["outcome"] == ("" if row.outcome is None else str(row.outcome))
        assert orjson.loads(line["inputs"]) == row.inputs
        assert orjson.loads(line["probabilities"]) == row.probabilities
        assert orjson.loads(line["classes"]) == CLASSES[row.model_version]
        assert float(line["latency_ms"]) == row.latency_ms
        assert (int(line["revision"]), int(line["row_index"]), line["shadow"]) == (
            row.revision,
            row.row_index,
            str(row.shadow),
        )


def test_csv_keeps_string_labels_unquoted(tmp_path: Path) -> None:
    """A text label is its own cell, not JSON text."""
    labels = Labels.of_versions([_version("v1", "classification", ["setosa", "virginica"])])
    out = tmp_path / "rows.csv"
    export_rows([_row(1, prediction="setosa", outcome="virginica", version="v1")], out, labels=labels)
    with out.open(newline="", encoding="utf-8") as handle:
        [line] = list(csv.DictReader(handle))
    assert (line["prediction"], line["outcome"]) == ("setosa", "virginica")


def test_jsonl_values_are_native(tmp_path: Path) -> None:
    """Each JSON Lines line is one row: ts ISO 8601 UTC, labels, lists and null as JSON values."""
    out = tmp_path / "rows.jsonl"
    assert export_rows(iter(_classified()), out, labels=INT_LABELS) == 4
    lines = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [list(line) for line in lines] == [list(COLUMNS)] * 4
    for line, row in zip(lines, _classified(), strict=True):
        assert datetime.fromisoformat(line.pop("ts")) == _utc(row.ts)
        assert line.pop("classes") == CLASSES[row.model_version]
        assert line == {name: getattr(row, name) for name in COLUMNS if name not in ("ts", "classes")}


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


def test_parquet_schema_follows_the_labels() -> None:
    """parquet_schema gives each label kind its Arrow type, for prediction, outcome and classes."""
    for labels, arrow in [
        (INT_LABELS, pa.int64()),
        (Labels.of_versions([_version("v1", "regression", None)]), pa.float64()),
        (Labels.of_versions([_version("v1", "classification", ["a"])]), pa.string()),
        (Labels.of_versions([_version("v1", "classification", [True, False])]), pa.bool_()),
    ]:
        assert labels is not None
        schema = parquet_schema(labels)
        assert (schema.field("prediction").type, schema.field("classes").type) == (arrow, pa.list_(arrow))


def test_extension_case_does_not_matter(tmp_path: Path) -> None:
    """rows.CSV is exported as CSV."""
    out = tmp_path / "rows.CSV"
    assert export_rows(_classified(), out) == 4
    assert out.read_text(encoding="utf-8").startswith("prediction_id,")


def test_unknown_extension_names_the_supported_ones(tmp_path: Path) -> None:
    """An unknown extension raises a 422 ExportError listing .csv, .jsonl, .parquet; no file."""
    out = tmp_path / "rows.xlsx"
    with pytest.raises(ExportError, match=r"'\.xlsx'.*\.csv, \.jsonl, \.parquet") as caught:
        export_rows(_classified(), out)
    assert isinstance(caught.value, CanarylineError) and caught.value.status == 422
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["rows.parquet", "rows.csv", "rows.jsonl"])
def test_a_missing_folder_is_a_clear_export_error(tmp_path: Path, name: str) -> None:
    """A folder that does not exist, or is a file, raises a 422 ExportError naming it; nothing is created."""
    with pytest.raises(ExportError, match=r"folder '.*missing' does not exist") as caught:
        export_rows(_classified(), tmp_path / "missing" / name)
    assert caught.value.status == 422
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(ExportError, match=r"'.*a-file' is not a folder"):
        export_rows(_classified(), tmp_path / "a-file" / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file"]


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
    export_rows(_classified(), out)
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
        export_rows(_classified(), tmp_path / "rows.csv", batch_rows=0)


def _generated(count: int) -> Iterator[JoinedRow]:
    for i in range(count):
        yield _row(i, outcome=i % 3 if i % 4 else None, probabilities=[0.25, 0.25, 0.5])


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
        written = export_rows(_generated(count), out, batch_rows=batch_rows, labels=INT_LABELS)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert written == count
    assert pq.ParquetFile(out).metadata.num_rows == count
    assert pq.ParquetFile(out).metadata.num_row_groups == count // batch_rows
    # Holding every row (what a non-streaming export does) peaks at about `needed`; streaming holds one batch.
    assert needed > 30_000_000
    assert peak < needed / 5, f"peak {peak:,} B vs {needed:,} B to materialise"


def test_dataframe_has_the_export_types() -> None:
    """The DataFrame has the export's columns: UTC timestamps, nullable int labels, lists of probabilities."""
    frame = rows_to_dataframe(iter(_classified()), labels=INT_LABELS)
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == 4
    assert str(frame["ts"].dtype) == "datetime64[us, UTC]"
    assert frame["ts"].iloc[0] == pd.Timestamp(_utc(_classified()[0].ts))
    assert (frame["prediction"].dtype, frame["outcome"].dtype) == (pd.Int64Dtype(), pd.Int64Dtype())
    assert frame["prediction"].tolist() == [0, 2, 1, 1]
    assert frame["outcome"].isna().tolist() == [False, False, True, False]
    assert list(frame["probabilities"].iloc[1]) == [0.1, 0.2, 0.7]
    assert list(frame["classes"].iloc[0]) == [0, 1, 2]
    assert frame["shadow"].tolist() == [False, False, False, True]


def test_dataframe_without_labels_infers_them_from_the_rows() -> None:
    """Without labels the DataFrame takes the label type from the rows themselves (floats: a regressor)."""
    frame = rows_to_dataframe([_row(0, prediction=1.5, outcome=2.0), _row(1, prediction=0.5)])
    assert frame["prediction"].dtype == pd.Float64Dtype()
    assert frame["outcome"].tolist()[0] == 2.0 and frame["outcome"].isna().tolist() == [False, True]


def test_versions_without_classes_leave_the_type_to_the_values() -> None:
    """Classifiers registered without classes_ (or no versions) do not tell a type: of_versions gives None."""
    assert Labels.of_versions([_version("v1", "classification", None)]) is None
    assert Labels.of_versions([]) is None
    assert Labels.of_values(["a", None, "b"]) == Labels("str")
    assert Labels.of_values([1, "1"]).kind == "json"
