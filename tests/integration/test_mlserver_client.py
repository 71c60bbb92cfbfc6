"""Code written against MLServer works against the gateway: requests built by MLServer's own
``PandasCodec`` (in MLServer's virtualenv, tests/support/mlserver_client.py) are scored by named-input
versions of scikit-learn, XGBoost and LightGBM, and the answers and model metadata parse as MLServer's own
types and decode with its codecs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder
from starlette.testclient import TestClient

from registry_client.control import ControlPlane
from registry_client.registry.registry import Registry
from registry_client.settings import GatewaySettings
from registry_client.store import open_store
from service.composition import Runtime, build_runtime
from service.rest.app import build_app
from tests.support.frames import RECORD, iris_frame, tabular, text_pipeline
from tests.support.mlserver_client import mlserver_codec
from tests.support.tokens import TOKEN_SETTINGS

#: A second row for the full frame: a null in the nullable number.
OTHER = {**RECORD, "sepal_length": 6.7, "sepal_width": None, "petal_length": 5.2, "petal_width": 2.3,
         "sepal_mm": 67, "wide": False, "petal_band": "long", "note": "long petals on narrow sepals"}  # fmt: skip
FULL = [RECORD, OTHER]
TABULAR = [{k: v for k, v in row.items() if k != "note"} | {"sepal_width": 3.0} for row in FULL]
STRINGS = ["petal_band", "note"]
#: The requests MLServer's codec builds here: the full frame, the tabular frame, and one with a mistyped column.
FRAMES: dict[str, dict[str, list[Any]]] = {
    "full": {"records": FULL, "strings": STRINGS},
    "tabular": {"records": TABULAR, "strings": ["petal_band"]},
    "mistyped": {"records": [{**RECORD, "sepal_mm": "51"}], "strings": [*STRINGS, "sepal_mm"]},
    "mlserver-outputs": {"records": TABULAR, "strings": ["petal_band"], "outputs": ["predict_proba", "predict"]},
}


@pytest.fixture(scope="module")
def encoded() -> dict[str, dict[str, Any]]:
    """Each of FRAMES as MLServer's PandasCodec encodes it (one run of MLServer's interpreter)."""
    return dict(zip(FRAMES, mlserver_codec({"encode": list(FRAMES.values())}), strict=True))


@pytest.fixture(scope="module")
def trained() -> dict[str, tuple[pd.DataFrame, Any]]:
    """Each framework's model with the frame it was trained on."""
    frame, y = iris_frame()
    features = tabular(frame)
    one_hot = ColumnTransformer([("band", OneHotEncoder(), ["petal_band"])], remainder="passthrough")
    linear = Pipeline([("columns", one_hot), ("model", LogisticRegression(max_iter=3000))])
    trees = xgb.XGBClassifier(n_estimators=20, max_depth=3, enable_categorical=True)
    return {
        "sklearn": (frame, text_pipeline(frame, y)),
        "sklearn-tabular": (features, linear.fit(features, y)),
        "xgboost": (features, trees.fit(features, y)),
        "lightgbm": (features, lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(features, y)),
    }


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[[Callable[[Registry], None]], TestClient]]:
    """Registers versions through ``register(registry)``, then starts an in-process gateway on that store."""
    opened: list[tuple[TestClient, Runtime, Registry]] = []
    url = f"sqlite:///{tmp_path / 'store.db'}"

    def started(register: Callable[[Registry], None]) -> TestClient:
        registry = Registry(open_store(url))
        register(registry)
        runtime = build_runtime(GatewaySettings(store=url, home=tmp_path, **TOKEN_SETTINGS))
        client = TestClient(build_app(runtime)).__enter__()
        opened.append((client, runtime, registry))
        return client

    yield started
    for client, runtime, registry in opened:
        client.__exit__(None, None, None)
        runtime.close()
        registry.store.close()


def own_answer(model: Any, like: pd.DataFrame, rows: list[dict[str, Any]]) -> tuple[list[Any], np.ndarray]:
    """``model``'s labels and probabilities for ``rows``, given the training frame's dtypes."""
    frame = pd.DataFrame(rows)[list(like.columns)].astype(like.dtypes.to_dict())
    return np.asarray(model.predict(frame)).tolist(), model.predict_proba(frame)


def datatype(column: pd.Series) -> str:
    """The OIP datatype of a training column: what the gateway's metadata and PandasCodec both use."""
    if pd.api.types.is_bool_dtype(column):
        return "BOOL"
    if pd.api.types.is_integer_dtype(column):
        return "INT64"
    return "FP64" if pd.api.types.is_float_dtype(column) else "BYTES"


def test_pandascodec_requests_get_each_frameworks_answer_in_mlservers_types(
    start, trained, encoded, model_name: str
) -> None:
    """A PandasCodec request (strings, a category, a null) is scored by the scikit-learn pipeline, XGBoost and
    LightGBM as their own predict would; the answers and metadata parse as MLServer's types."""
    cases = {"sklearn": "full", "xgboost": "tabular", "lightgbm": "tabular"}

    def register(registry: Registry) -> None:
        for framework in cases:
            frame, model = trained[framework]
            registry.register(f"{model_name}-{framework}", model, sample=frame)

    client = start(register)
    answers = []
    for framework, request in cases.items():
        response = client.post(f"/v2/models/{model_name}-{framework}/infer", json=encoded[request])
        assert response.status_code == 200, (framework, response.text)
        metadata = client.get(f"/v2/models/{model_name}-{framework}").json()
        answers.append({"response": response.json(), "metadata": metadata})
    decoded = mlserver_codec({"decode": answers})
    for (framework, request), answer in zip(cases.items(), decoded, strict=True):
        frame, model = trained[framework]
        labels, probabilities = own_answer(model, frame, FRAMES[request]["records"])
        assert answer["outputs"]["predictions"] == labels, framework
        np.testing.assert_allclose(answer["outputs"]["probabilities"], probabilities, rtol=1e-6, err_msg=framework)
        assert answer["inputs"] == [[name, datatype(frame[name])] for name in frame.columns], framework


def test_mlservers_output_names_are_answered_under_those_names(start, trained, encoded, model_name: str) -> None:
    """Outputs requested by MLServer's runtime names (predict_proba, predict) come back, in that order, under
    those names, holding the probabilities and the labels."""
    frame, model = trained["lightgbm"]

    def register(registry: Registry) -> None:
        registry.register(model_name, model, sample=frame)

    client = start(register)
    response = client.post(f"/v2/models/{model_name}/infer", json=encoded["mlserver-outputs"])
    assert response.status_code == 200, response.text
    assert [o["name"] for o in response.json()["outputs"]] == ["predict_proba", "predict"]
    [answer] = mlserver_codec({"decode": [{"response": response.json()}]})
    labels, probabilities = own_answer(model, frame, TABULAR)
    assert answer["outputs"]["predict"] == labels
    np.testing.assert_allclose(answer["outputs"]["predict_proba"], probabilities, rtol=1e-6)
    unknown = {**encoded["tabular"], "outputs": [{"name": "decision_function"}]}
    refused = client.post(f"/v2/models/{model_name}/infer", json=unknown)
    assert refused.status_code == 422 and "predict_proba" in refused.json()["error"]


def test_a_mistyped_pandascodec_column_is_a_422_naming_it(start, trained, encoded, model_name: str) -> None:
    """An integer column a client's frame holds as strings arrives as BYTES and is refused, the field named."""
    frame, model = trained["sklearn"]

    def register(registry: Registry) -> None:
        registry.register(model_name, model, sample=frame)

    client = start(register)
    response = client.post(f"/v2/models/{model_name}/infer", json=encoded["mistyped"])
    assert response.status_code == 422, response.text
    assert "sepal_mm" in response.json()["error"]


def test_a_scikit_learn_stable_and_an_xgboost_canary_keep_each_key_sticky_for_mlserver_clients(
    start, trained, encoded, model_name: str
) -> None:
    """With a scikit-learn stable and an XGBoost sticky canary of one schema, each routing key gets one
    version on every call, both versions serve some keys, and each answer is its own version's model's."""
    features, stable = trained["sklearn-tabular"]
    _, canary = trained["xgboost"]

    def register(registry: Registry) -> None:
        registry.register(model_name, stable, sample=features)
        registry.register(model_name, canary, sample=features)
        ControlPlane(registry).set_canary(
            model_name, "v2", weight=50, sticky=True, actor="tests", reason="xgb", expected_revision=None
        )

    client = start(register)
    by_key: dict[str, set[str]] = {}
    answers = []
    for attempt in range(3):
        for i in range(16):
            headers = {"X-Routing-Key": f"user-{i}"}
            response = client.post(f"/v2/models/{model_name}/infer", json=encoded["tabular"], headers=headers)
            assert response.status_code == 200, response.text
            by_key.setdefault(f"user-{i}", set()).add(response.json()["model_version"])
            if attempt == 0:
                answers.append({"response": response.json()})
    assert all(len(versions) == 1 for versions in by_key.values()), by_key
    assert set().union(*by_key.values()) == {"v1", "v2"}
    models = {"v1": stable, "v2": canary}
    for answer in mlserver_codec({"decode": answers}):
        labels, probabilities = own_answer(models[answer["model_version"]], features, TABULAR)
        assert answer["outputs"]["predictions"] == labels
        np.testing.assert_allclose(answer["outputs"]["probabilities"], probabilities, rtol=1e-6)
