"""`canaryline export` as a real subprocess over real traffic: native column types, and clear refusals."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LogisticRegression

from registry_client.domain.records import PredictionRecord
from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.cli import canaryline, read_jsonl
from tests.support.gateways import gateway
from tests.support.tokens import FEEDBACK_TOKEN, bearer


def _serve(url: str, tmp_path: Path, model: str, inputs: np.ndarray, outcomes: np.ndarray) -> list[PredictionRecord]:
    """Twelve real predictions through the ASGI app (every third a two-row batch), outcomes for all but the last."""
    with gateway(url, tmp_path) as built:
        client = built.client
        for i in range(12):
            rows = slice(i, i + 2 if i % 3 == 0 else i + 1)
            body = {"model": model, "inputs": inputs[rows].tolist()}
            assert client.post("/predict", json=body, headers={"X-Request-ID": f"r-{i}"}).status_code == 200
            if i < 11:
                posted = client.post(
                    "/feedback",
                    json={"request_id": f"r-{i}", "outcome": outcomes[rows].tolist()},
                    headers=bearer(FEEDBACK_TOKEN),
                )
                assert posted.status_code == 202, posted.text
        return list(built.runtime.store.iter_predictions(model))


@pytest.fixture
def classified(sqlite_url: str, tmp_path: Path, model_name: str, iris, iris_models) -> list[PredictionRecord]:
    """An int-label iris classifier, served twelve times."""
    X, y = iris
    store = open_store(sqlite_url)
    Registry(store).register(model_name, iris_models["logreg"])
    store.close()
    return _serve(sqlite_url, tmp_path, model_name, X[::12], y[::12])


def _expected(records: list[PredictionRecord]) -> list[dict]:
    return [
        {"ts": record.ts, "prediction": p, "probabilities": record.probabilities[i] if record.probabilities else None}
        for record in records
        for i, p in enumerate(record.predictions)
    ]


def _at_us(ts: float) -> datetime:
    return datetime.fromtimestamp(round(ts * 1_000_000) / 1_000_000, UTC)


def test_parquet_columns_of_a_classifier_are_native(
    classified: list[PredictionRecord], sqlite_url: str, tmp_path: Path, model_name: str
) -> None:
    """ts is a UTC timestamp, labels int64, probabilities list<double> as served, classes the version's."""
    out = tmp_path / "rows.parquet"
    done = canaryline("export", model_name, "--out", str(out), store_url=sqlite_url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)
    types = {
        name: table.schema.field(name).type for name in ("ts", "prediction", "outcome", "probabilities", "classes")
    }
    assert types == {
        "ts": pa.timestamp("us", tz="UTC"),
        "prediction": pa.int64(),
        "outcome": pa.int64(),
        "probabilities": pa.list_(pa.float64()),
        "classes": pa.list_(pa.int64()),
    }
    rows = table.to_pylist()
    expected = _expected(classified)
    assert [(r["ts"], r["prediction"], r["probabilities"]) for r in rows] == [
        (_at_us(e["ts"]), e["prediction"], e["probabilities"]) for e in expected
    ]
    assert {tuple(r["classes"]) for r in rows} == {(0, 1, 2)}
    assert [r["outcome"] is None for r in rows] == [r["request_id"] == "r-11" for r in rows]
    assert all(isinstance(r["outcome"], int) for r in rows if r["outcome"] is not None)


def test_csv_and_jsonl_of_a_classifier_are_native(
    classified: list[PredictionRecord], sqlite_url: str, tmp_path: Path, model_name: str
) -> None:
    """CSV cells and JSON Lines values are plain labels and ISO 8601 UTC times, not JSON text."""
    for name in ("rows.csv", "rows.jsonl"):
        done = canaryline("export", model_name, "--out", str(tmp_path / name), store_url=sqlite_url, home=tmp_path)
        assert done.returncode == 0, done.stderr
    with (tmp_path / "rows.csv").open(newline="", encoding="utf-8") as handle:
        lines = list(csv.DictReader(handle))
    jsonl = read_jsonl(tmp_path / "rows.jsonl")
    expected = _expected(classified)
    assert [line["prediction"] for line in lines] == [str(e["prediction"]) for e in expected]
    assert [line["prediction"] for line in jsonl] == [e["prediction"] for e in expected]
    for line, record in zip(lines, jsonl, strict=True):
        assert datetime.fromisoformat(line["ts"]) == datetime.fromisoformat(record["ts"])
        offset = datetime.fromisoformat(record["ts"]).utcoffset()
        assert offset is not None and offset.total_seconds() == 0


def test_a_regressor_exports_floats_without_probabilities(
    sqlite_url: str, tmp_path: Path, model_name: str, diabetes_ridge
) -> None:
    """A regressor (registered without task=) exports float64 labels and null probabilities and classes."""
    X, y = load_diabetes(return_X_y=True)
    store = open_store(sqlite_url)
    Registry(store).register(model_name, diabetes_ridge)
    store.close()
    records = _serve(sqlite_url, tmp_path, model_name, X, y)
    out = tmp_path / "rows.parquet"
    assert canaryline("export", model_name, "--out", str(out), store_url=sqlite_url, home=tmp_path).returncode == 0
    table = pq.read_table(out)
    assert (table.schema.field("prediction").type, table.schema.field("outcome").type) == (pa.float64(), pa.float64())
    rows = table.to_pylist()
    assert [r["prediction"] for r in rows] == pytest.approx([e["prediction"] for e in _expected(records)])
    assert {(r["probabilities"], r["classes"]) for r in rows} == {(None, None)}


def test_labels_of_several_types_are_exported_as_json_text_with_a_warning(
    classified: list[PredictionRecord], sqlite_url: str, tmp_path: Path, model_name: str, iris
) -> None:
    """With a version trained on text labels next to int labels, export says so and writes JSON text labels."""
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    store = open_store(sqlite_url)
    Registry(store).register(model_name, LogisticRegression(max_iter=500).fit(X, names))
    store.close()
    out = tmp_path / "rows.parquet"
    done = canaryline("export", model_name, "--out", str(out), store_url=sqlite_url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"model '{model_name}' has labels of several types (int, str)" in done.stderr
    table = pq.read_table(out)
    assert table.schema.field("prediction").type == pa.string()
    assert table.column("prediction").to_pylist() == [str(e["prediction"]) for e in _expected(classified)]


@pytest.mark.parametrize("where", ["missing/dir/x.csv", "a-file/x.parquet"])
def test_export_to_a_folder_that_is_not_there_is_one_line_and_exit_2(
    classified: list[PredictionRecord], sqlite_url: str, tmp_path: Path, model_name: str, where: str
) -> None:
    """--out in a missing folder (or under a file) exits 2 with one line naming the folder, no traceback."""
    (tmp_path / "a-file").write_text("not a folder")
    out = tmp_path / where
    done = canaryline("export", model_name, "--out", str(out), store_url=sqlite_url, home=tmp_path)
    assert done.returncode == 2, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert f"cannot export to '{out}'" in done.stderr and "Traceback" not in done.stderr
    assert not out.parent.is_dir()
