"""MLflow models imported through bentoml.mlflow: the signature becomes the input schema, and the
gateway serves the pyfunc on named inputs. Saved here with MLflow itself, from a pipeline trained on iris."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import mlflow.sklearn
import numpy as np
import orjson
import pandas as pd
import pytest
from mlflow.models import infer_signature
from starlette.testclient import TestClient

from registry_client.errors import UnsupportedModelError
from registry_client.registry.registry import Registry
from registry_client.settings import GatewaySettings
from service.composition import build_runtime
from service.rest.app import build_app
from tests.support.cli import canaryline
from tests.support.frames import RECORD, iris_frame, text_pipeline
from tests.support.tokens import TOKEN_SETTINGS


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, pd.DataFrame]:
    """An MLflow sklearn model directory with a signature, the pipeline inside it and its training frame."""
    frame, y = iris_frame()
    frame = frame.astype({"petal_band": str})  # MLflow's signature has no categories: strings
    pipeline = text_pipeline(frame, y)
    folder = tmp_path_factory.mktemp("mlflow") / "model"
    with warnings.catch_warnings():  # infer_signature hints that integer columns cannot hold nulls
        warnings.simplefilter("ignore", UserWarning)
        signature = infer_signature(frame, pipeline.predict(frame))
    mlflow.sklearn.save_model(pipeline, str(folder), signature=signature, serialization_format="cloudpickle")
    return folder, pipeline, frame


def test_an_mlflow_model_registers_with_its_signature_as_schema(
    sqlite_registry: Registry, model_name: str, saved
) -> None:
    """The task and classes come from the sklearn flavor, the fields from the signature (optional: nullable)."""
    folder, _, frame = saved
    version = sqlite_registry.import_mlflow(model_name, str(folder), code_version="run-1")
    assert (version.framework, version.task, version.classes, version.code_version) == (
        "bentoml.mlflow",
        "classification",
        [0, 1, 2],
        "run-1",
    )
    assert version.input_schema is not None and version.input_schema.names == tuple(frame.columns)
    kinds = {f.name: (f.kind, f.nullable) for f in version.input_schema.fields}
    assert kinds["sepal_width"] == ("number", True) and kinds["sepal_mm"] == ("integer", False)
    assert kinds["wide"] == ("boolean", False) and kinds["petal_band"] == ("string", False)


def test_the_gateway_serves_the_pyfunc_on_named_inputs(
    tmp_path: Path, sqlite_registry: Registry, model_name: str, saved
) -> None:
    """Records reach MLflow's pyfunc as a DataFrame and get the pipeline's labels (a pyfunc has no probabilities)."""
    folder, pipeline, _ = saved
    sqlite_registry.import_mlflow(model_name, str(folder))
    url = f"sqlite:///{tmp_path / 'store.db'}"
    runtime = build_runtime(GatewaySettings(store=url, home=tmp_path, **TOKEN_SETTINGS))
    other = {**RECORD, "sepal_width": None, "petal_length": 5.2, "petal_band": "long", "note": "long petals"}
    try:
        with TestClient(build_app(runtime)) as client:
            body = {"model": model_name, "inputs": [RECORD, other]}
            response = client.post("/predict", content=orjson.dumps(body))
            assert response.status_code == 200, response.text
            expected = pipeline.predict(pd.DataFrame([RECORD, other])).tolist()
            assert response.json()["predictions"] == expected and "probabilities" not in response.json()
            refused = client.post("/predict", json={"model": model_name, "inputs": [{**RECORD, "wide": "yes"}]})
            assert refused.status_code == 422 and "inputs[0].wide" in refused.json()["error"]["message"]
    finally:
        runtime.close()
    assert np.isfinite(expected).all()


def test_canaryline_import_mlflow(tmp_path: Path, model_name: str, saved) -> None:
    """`canaryline import-mlflow MODEL URI` registers the next version and prints what it takes."""
    folder, _, _ = saved
    url = f"sqlite:///{tmp_path / 'store.db'}"
    done = canaryline("import-mlflow", model_name, str(folder), "--json", store_url=url, home=tmp_path)
    assert done.returncode == 0, done.stderr
    assert orjson.loads(done.stdout)["framework"] == "bentoml.mlflow"
    again = canaryline("import-mlflow", model_name, str(folder), store_url=url, home=tmp_path)
    assert again.returncode == 0 and f"{model_name}: registered v2 (classification, mlflow)" in again.stdout


def test_a_folder_that_is_not_an_mlflow_model_is_refused(sqlite_registry: Registry, tmp_path: Path) -> None:
    """A URI without an MLmodel is refused naming it, before anything is written."""
    with pytest.raises(UnsupportedModelError, match="is not an MLflow model"):
        sqlite_registry.import_mlflow("notmlflow", str(tmp_path))
    assert "notmlflow" not in sqlite_registry.models()
