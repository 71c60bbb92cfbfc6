"""Named rows as a Parquet body on ``POST /predict`` (``application/vnd.apache.parquet``): a DataFrame written
by pandas is scored as its records would be, and what is not a named input is refused before any model."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from starlette.testclient import TestClient

from registry_client.control import ControlPlane
from registry_client.registry.registry import Registry
from registry_client.settings import GatewaySettings
from registry_client.store import open_store
from service.composition import Runtime, build_runtime
from service.rest.app import build_app
from tests.support.frames import BANDS, RECORD, iris_frame, text_pipeline
from tests.support.tokens import TOKEN_SETTINGS

PARQUET = {"Content-Type": "application/vnd.apache.parquet"}
OTHER = {**RECORD, "sepal_length": 6.7, "sepal_width": None, "petal_length": 5.2, "petal_width": 2.3,
         "sepal_mm": 67, "wide": False, "petal_band": "long", "note": "long petals on narrow sepals"}  # fmt: skip


@dataclass
class Served:
    client: TestClient
    runtime: Runtime
    model: str
    pipelines: dict[str, Any]


@pytest.fixture(scope="module")
def trained() -> tuple[pd.DataFrame, Any, Any]:
    frame, y = iris_frame()
    return frame, text_pipeline(frame, y), text_pipeline(frame, y, C=0.05)


@pytest.fixture
def served(tmp_path: Path, model_name: str, trained) -> Iterator[Served]:
    """v1 stable and v2 a sticky 50 % canary, both registered from the training frame; 20 rows at most."""
    frame, v1, v2 = trained
    url = f"sqlite:///{tmp_path / 'store.db'}"
    registry = Registry(open_store(url))
    registry.register(model_name, v1, sample=frame)
    registry.register(model_name, v2, sample=frame)
    ControlPlane(registry).set_canary(
        model_name, "v2", weight=50, sticky=True, actor="tests", reason="canary", expected_revision=None
    )
    settings = GatewaySettings(store=url, home=tmp_path, max_batch=20, max_body_bytes=64 << 10, **TOKEN_SETTINGS)
    runtime = build_runtime(settings)
    try:
        with TestClient(build_app(runtime)) as client:
            yield Served(client, runtime, model_name, {"v1": v1, "v2": v2})
    finally:
        runtime.close()
        registry.store.close()


def frame_of(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """``rows`` as a client's DataFrame: the band a category, the null sepal width a NaN."""
    return pd.DataFrame(rows).astype({"petal_band": pd.CategoricalDtype(BANDS), "sepal_width": "float64"})


def parquet(frame: pd.DataFrame | pa.Table, **options: Any) -> bytes:
    buffer = io.BytesIO()
    if isinstance(frame, pd.DataFrame):
        frame.to_parquet(buffer, **options)
    else:
        pq.write_table(frame, buffer, **options)
    return buffer.getvalue()


def post(served: Served, body: bytes, **query: str):
    return served.client.post("/predict", content=body, headers=PARQUET, params={"model": served.model, **query})


def test_a_parquet_frame_gets_the_answer_its_records_get(served: Served) -> None:
    """A pandas frame with a category, a string, a null and a filtered index is scored exactly as the same
    rows sent as JSON records, and its log record keeps the rows as named inputs."""
    frame = frame_of([RECORD, OTHER, RECORD]).iloc[[0, 1]]
    frame.index = [7, 3]  # a filtered frame's index: not an input
    response = post(served, parquet(frame), version="v1")
    assert response.status_code == 200, response.text
    as_json = served.client.post(
        "/predict", content=orjson.dumps({"model": served.model, "inputs": [RECORD, OTHER], "version": "v1"})
    )
    body = response.json()
    assert body["model_version"] == "v1" and body["predictions"] == as_json.json()["predictions"]
    np.testing.assert_allclose(body["probabilities"], as_json.json()["probabilities"])
    pipeline = served.pipelines["v1"]
    assert body["predictions"] == pipeline.predict(frame_of([RECORD, OTHER])).tolist()
    first = next(r for r in served.runtime.store.iter_predictions(served.model) if r.request_id == body["request_id"])
    assert first.inputs == [RECORD, OTHER]


def test_a_routing_key_in_the_query_is_sticky(served: Served) -> None:
    """routing_key as a query parameter routes like the JSON field: one version per key, both versions seen."""
    body = parquet(frame_of([RECORD]))
    seen = {}
    for i in range(24):
        versions = {post(served, body, routing_key=f"user-{i}").json()["model_version"] for _ in range(2)}
        assert len(versions) == 1
        seen[f"user-{i}"] = versions.pop()
    assert set(seen.values()) == {"v1", "v2"}


def _table(**changes: Any) -> pa.Table:
    columns = {name: [value] for name, value in RECORD.items()} | changes
    return pa.table(columns)


@pytest.mark.parametrize(
    ("body", "status", "code", "named"),
    [
        (b"PAR1 not really", 400, "invalid_parquet", "not a Parquet file"),
        (orjson.dumps({"inputs": [RECORD]}), 400, "invalid_parquet", "not a Parquet file"),
        (parquet(_table(sepal_length=[float("nan")])), 422, "invalid_input", "inputs.sepal_length[0]"),
        (parquet(_table(sepal_mm=["51"])), 422, "invalid_input", "inputs.sepal_mm[0]"),
        (parquet(_table(note=[date(2026, 1, 1)])), 422, "wrong_datatype", "inputs.note"),
        (parquet(_table(colour=["red"])), 422, "unknown_field", "inputs.colour"),
        (parquet(_table().drop_columns(["wide"])), 422, "missing_field", "inputs.wide"),
        (parquet(pa.table({n: [v] * 21 for n, v in RECORD.items()})), 422, "batch_too_large", "21 rows"),
        (parquet(_table(note=["x" * 20000])), 422, "string_too_long", "inputs.note"),
    ],
)
def test_what_is_not_a_named_input_is_refused_and_logged_nowhere(
    served: Served, body: bytes, status: int, code: str, named: str
) -> None:
    """A body that is not Parquet is a 400; a NaN, a mistyped, unsupported, unknown or missing column, too
    many rows or an over-long string a 422 naming it; no record is written for any."""
    response = post(served, body, version="v1")
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and named in error["message"], error
    assert served.runtime.store.count_predictions() == 0


def test_a_compressed_body_is_bounded_by_what_it_unpacks_to(served: Served) -> None:
    """A long string repeated on every row compresses to almost nothing: refused by its length (read once,
    dictionary-encoded), and a column set whose uncompressed size is over the body limit is a 413."""
    repeated = pa.table({**{n: [v] * 20 for n, v in RECORD.items()}, "note": ["x" * 60_000] * 20})
    small = parquet(repeated, compression="zstd")
    assert len(small) < 4096
    refused = post(served, small, version="v1")
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "string_too_long"
    notes = [f"{i} " + "petals " * 700 for i in range(20)]  # each under the string limit, 98 kB in all
    unpacked = parquet(pa.table({**{n: [v] * 20 for n, v in RECORD.items()}, "note": notes}), compression="zstd")
    assert len(unpacked) < 8192
    too_big = post(served, unpacked, version="v1")
    assert too_big.status_code == 413 and "uncompressed" in too_big.json()["error"]["message"], too_big.text
    assert served.runtime.store.count_predictions() == 0
