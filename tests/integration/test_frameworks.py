"""XGBoost, LightGBM and ONNX through the framework seam: trained here on scikit-learn's bundled data sets,
saved by BentoML's own framework modules, loaded from verified bytes and served by the gateway."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bentoml
import lightgbm as lgb
import numpy as np
import orjson
import pandas as pd
import pytest
import xgboost as xgb
from skl2onnx import to_onnx
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from starlette.testclient import TestClient

from registry_client.control import ControlPlane
from registry_client.errors import InvalidTaskError, UnsupportedModelError
from registry_client.registry.adapter import import_framework
from registry_client.registry.boosters import BoosterModel
from registry_client.registry.registry import Registry
from registry_client.settings import GatewaySettings
from service.composition import build_runtime
from service.rest.app import build_app
from tests.support.frames import RECORD, iris_frame, tabular
from tests.support.tokens import TOKEN_SETTINGS

X_IRIS, Y_IRIS = load_iris(return_X_y=True)
X_CANCER, Y_CANCER = load_breast_cancer(return_X_y=True)
X_DIAB, Y_DIAB = load_diabetes(return_X_y=True)


@pytest.fixture
def gateway(tmp_path: Path, sqlite_registry: Registry) -> Iterator[Any]:
    """A function that starts an in-process gateway over the registry's store once versions are registered."""
    clients: list[Any] = []

    def start() -> TestClient:
        url = f"sqlite:///{tmp_path / 'store.db'}"
        runtime = build_runtime(GatewaySettings(store=url, home=tmp_path, **TOKEN_SETTINGS))
        client = TestClient(build_app(runtime)).__enter__()
        clients.append((client, runtime))
        return client

    yield start
    for client, runtime in clients:
        client.__exit__(None, None, None)
        runtime.close()


def frame_of(record: dict[str, Any], like: pd.DataFrame) -> pd.DataFrame:
    """``record`` as a one-row frame with the training frame's dtypes (what the model saw in training)."""
    return pd.DataFrame([record])[list(like.columns)].astype(like.dtypes.to_dict())


def served(client: TestClient, model: str, inputs: Any, version: str | None = None) -> dict[str, Any]:
    headers = {"X-Model-Version": version} if version else {}
    response = client.post("/predict", content=orjson.dumps({"model": model, "inputs": inputs}), headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_xgboost_sklearn_api_is_saved_by_bentoml_xgboost(sqlite_registry: Registry, model_name: str, gateway) -> None:
    """An XGBClassifier registers as bentoml.xgboost, loads back as its class and serves its own answers."""
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3).fit(X_CANCER, Y_CANCER)
    version = sqlite_registry.register(model_name, model)
    assert (version.framework, version.task, version.n_features, version.classes) == (
        "bentoml.xgboost",
        "classification",
        30,
        [0, 1],
    )
    loaded = sqlite_registry.load(model_name, "v1").model
    assert type(loaded) is xgb.XGBClassifier
    np.testing.assert_array_equal(
        bentoml.xgboost.load_model(f"{model_name}:v1").predict(X_CANCER), model.predict(X_CANCER)
    )
    body = served(gateway(), model_name, X_CANCER[:5].tolist())
    assert body["predictions"] == model.predict(X_CANCER[:5]).tolist()
    np.testing.assert_allclose(body["probabilities"], model.predict_proba(X_CANCER[:5]), rtol=1e-6)


def test_xgboost_on_a_categorical_frame_takes_named_inputs(sqlite_registry: Registry, model_name: str, gateway) -> None:
    """XGBoost's own categorical support gets the category column as the categorical it was trained on."""
    frame, y = iris_frame()
    features = tabular(frame)
    model = xgb.XGBClassifier(n_estimators=20, max_depth=3, enable_categorical=True, tree_method="hist")
    model.fit(features, y)
    sqlite_registry.register(model_name, model, sample=features)
    record = {k: v for k, v in RECORD.items() if k != "note"}
    body = served(gateway(), model_name, [record])
    assert body["predictions"] == model.predict(frame_of(record, features)).tolist()
    np.testing.assert_allclose(body["probabilities"], model.predict_proba(frame_of(record, features)), rtol=1e-6)


def test_an_xgboost_booster_is_a_regressor_by_its_objective(
    sqlite_registry: Registry, model_name: str, gateway
) -> None:
    """A bare Booster's task is read from its objective; it serves what it predicts on a DMatrix."""
    booster = xgb.train({"objective": "reg:squarederror", "max_depth": 3}, xgb.DMatrix(X_DIAB, Y_DIAB), 20)
    version = sqlite_registry.register(model_name, booster)
    assert (version.task, version.n_features) == ("regression", 10)
    body = served(gateway(), model_name, X_DIAB[:4].tolist())
    np.testing.assert_allclose(body["predictions"], booster.predict(xgb.DMatrix(X_DIAB[:4])), rtol=1e-6)


def test_lightgbm_sklearn_api_and_booster(sqlite_registry: Registry, model_name: str, gateway) -> None:
    """An LGBMClassifier on a categorical frame and a multiclass Booster both serve labels and probabilities."""
    frame, y = iris_frame()
    features = tabular(frame)
    classifier = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(features, y)
    version = sqlite_registry.register(model_name, classifier, sample=features)
    assert (version.framework, version.classes) == ("bentoml.lightgbm", [0, 1, 2])
    booster = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(X_IRIS, Y_IRIS), 10)
    assert sqlite_registry.register(model_name + "b", booster).task == "classification"
    regressor = lgb.LGBMRegressor(n_estimators=20, verbose=-1).fit(X_DIAB, Y_DIAB)
    assert sqlite_registry.register(model_name + "r", regressor).task == "regression"
    client = gateway()
    record = {k: v for k, v in RECORD.items() if k != "note"}
    body = served(client, model_name, [record])
    assert body["predictions"] == np.asarray(classifier.predict(frame_of(record, features))).tolist()
    np.testing.assert_allclose(body["probabilities"], classifier.predict_proba(frame_of(record, features)), rtol=1e-6)
    body = served(client, model_name + "b", X_IRIS[[0, 75, 149]].tolist())
    assert body["predictions"] == np.asarray(booster.predict(X_IRIS[[0, 75, 149]])).argmax(axis=1).tolist() == [0, 1, 2]
    body = served(client, model_name + "r", X_DIAB[:3].tolist())
    np.testing.assert_allclose(body["predictions"], regressor.predict(X_DIAB[:3]), rtol=1e-6)


def test_onnx_converted_from_scikit_learn(sqlite_registry: Registry, model_name: str, gateway) -> None:
    """A skl2onnx logistic regression is a classifier by its graph and answers as scikit-learn does."""
    sklearn_model = LogisticRegression(max_iter=1000).fit(X_IRIS, Y_IRIS)
    onnx_model = to_onnx(sklearn_model, X_IRIS[:1].astype(np.float32), options={"zipmap": False})
    version = sqlite_registry.register(model_name, onnx_model)
    assert (version.framework, version.task, version.n_features, version.classes) == (
        "bentoml.onnx",
        "classification",
        4,
        [0, 1, 2],
    )
    body = served(gateway(), model_name, X_IRIS[[0, 75, 149]].tolist())
    assert body["predictions"] == sklearn_model.predict(X_IRIS[[0, 75, 149]]).tolist()
    np.testing.assert_allclose(body["probabilities"], sklearn_model.predict_proba(X_IRIS[[0, 75, 149]]), atol=1e-4)


def test_an_onnx_pipeline_with_one_input_per_column(sqlite_registry: Registry, model_name: str, gateway) -> None:
    """A converted ColumnTransformer pipeline takes named inputs, each column fed in its input's type."""
    frame, y = iris_frame()
    features = tabular(frame)[["sepal_length", "petal_length", "sepal_mm", "petal_band"]].astype({"petal_band": str})
    pipeline = Pipeline(
        [
            ("columns", ColumnTransformer([("band", OneHotEncoder(), ["petal_band"])], remainder="passthrough")),
            ("model", LogisticRegression(max_iter=2000)),
        ]
    ).fit(features, y)
    types = [
        ("sepal_length", FloatTensorType([None, 1])),
        ("petal_length", FloatTensorType([None, 1])),
        ("sepal_mm", Int64TensorType([None, 1])),
        ("petal_band", StringTensorType([None, 1])),
    ]
    onnx_model = to_onnx(pipeline, initial_types=types, options={"zipmap": False})
    schema = {
        "fields": [
            {"name": n, "kind": k}
            for n, k in zip(features.columns, ["number", "number", "integer", "string"], strict=True)
        ]
    }
    sqlite_registry.register(model_name, onnx_model, schema=schema)
    record = {name: RECORD[name] for name in features.columns}
    body = served(gateway(), model_name, {name: [value] for name, value in record.items()})
    assert body["predictions"] == pipeline.predict(pd.DataFrame([record])).tolist()


def test_an_onnx_regressor_needs_its_task_declared(sqlite_registry: Registry, model_name: str, gateway) -> None:
    """A graph without classifier labels cannot tell its task: refused without one, served with task=regression."""
    ridge = Ridge().fit(X_DIAB, Y_DIAB)
    onnx_model = to_onnx(ridge, X_DIAB[:1].astype(np.float32))
    with pytest.raises(InvalidTaskError, match="pass task='classification' or task='regression'"):
        sqlite_registry.register(model_name, onnx_model)
    sqlite_registry.register(model_name, onnx_model, task="regression")
    body = served(gateway(), model_name, X_DIAB[:3].tolist())
    np.testing.assert_allclose(body["predictions"], ridge.predict(X_DIAB[:3]), rtol=1e-4)


def test_one_model_with_a_scikit_learn_stable_and_an_xgboost_canary(
    sqlite_registry: Registry, model_name: str, gateway
) -> None:
    """Versions of one model may differ in framework; each answers with its own, the canary sticky by key."""
    stable = LogisticRegression(max_iter=1000).fit(X_IRIS, Y_IRIS)
    canary = xgb.XGBClassifier(n_estimators=10, max_depth=2).fit(X_IRIS, Y_IRIS)
    sqlite_registry.register(model_name, stable)
    sqlite_registry.register(model_name, canary)
    ControlPlane(sqlite_registry).set_canary(
        model_name, "v2", weight=50, sticky=True, actor="tests", reason="xgb", expected_revision=None
    )
    client = gateway()
    row = X_IRIS[70:71].tolist()
    np.testing.assert_allclose(served(client, model_name, row, "v1")["probabilities"], stable.predict_proba(row))
    np.testing.assert_allclose(
        served(client, model_name, row, "v2")["probabilities"], canary.predict_proba(row), rtol=1e-6
    )
    for key in ("user-1", "user-2", "user-3"):
        body = {"model": model_name, "inputs": row, "routing_key": key}
        assert len({client.post("/predict", json=body).json()["model_version"] for _ in range(5)}) == 1
    keyed = {client.post("/predict", json={"model": model_name, "inputs": row, "routing_key": f"k{i}"}).json()["route"]
             for i in range(40)}  # fmt: skip
    assert keyed == {"stable", "canary"}


def test_a_missing_framework_names_its_extra(sqlite_registry: Registry, model_name: str) -> None:
    """Loading a framework that is not installed, or registering an unknown object, names what to install."""
    with pytest.raises(UnsupportedModelError, match=r"pip install 'canaryline\[xgboost\]'"):
        import_framework("canaryline_no_such_framework", "xgboost", "an XGBoost model")
    with pytest.raises(UnsupportedModelError, match=r"xgboost \(canaryline\[xgboost\]\), lightgbm"):
        sqlite_registry.register(model_name, object())


def test_a_booster_classifier_runs_once_for_labels_and_probabilities() -> None:
    """Served labels and probabilities of a Booster come from one run of it, and equal predict and
    predict_proba (argmax over the registered classes; a binary Booster's one column made two)."""
    for booster, rows in (
        (
            lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1}, lgb.Dataset(X_IRIS, Y_IRIS), 10),
            X_IRIS,
        ),
        (lgb.train({"objective": "binary", "verbose": -1}, lgb.Dataset(X_CANCER, Y_CANCER), 10), X_CANCER),
    ):
        runs: list[int] = []

        def counted(features: Any, booster: Any = booster, runs: list[int] = runs) -> Any:
            runs.append(len(features))
            return booster.predict(features)

        classes = ["a", "b", "c"] if rows is X_IRIS else [False, True]
        model = BoosterModel(counted, "classification", classes, rows.shape[1])
        labels, probabilities = model.predict_labelled(rows[:40])
        assert runs == [40]
        assert labels.tolist() == model.predict(rows[:40]).tolist()
        np.testing.assert_array_equal(probabilities, model.predict_proba(rows[:40]))
        assert probabilities.shape == (40, len(classes))
