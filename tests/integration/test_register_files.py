"""Registration for pipelines: model files in each framework's own format, the pickle trust flag, refusals that
write nothing, adopting a model saved with BentoML directly, and the CLI from homes with no BentoML store."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import bentoml
import joblib
import lightgbm as lgb
import numpy as np
import orjson
import pytest
import xgboost as xgb
from skl2onnx import to_onnx
from sklearn.linear_model import LogisticRegression

from registry_client.errors import ModelFileError, PayloadTooLargeError
from registry_client.registry.local_models import bento_model
from registry_client.registry.registry import Registry
from registry_client.store import open_store
from tests.support.cli import CANARYLINE


@pytest.fixture(scope="module")
def model_files(tmp_path_factory: pytest.TempPathFactory, iris) -> dict[str, Path]:
    """Iris classifiers as training jobs write them: XGBoost JSON and UBJSON, LightGBM text, ONNX, a joblib pickle."""
    X, y = iris
    folder = tmp_path_factory.mktemp("files")
    booster = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, y).get_booster()
    booster.save_model(folder / "model.json")
    booster.save_model(folder / "model.ubj")
    lgb.LGBMClassifier(n_estimators=5, verbose=-1).fit(X, y).booster_.save_model(folder / "model.txt")
    logreg = LogisticRegression(max_iter=500).fit(X, y)
    (folder / "model.onnx").write_bytes(to_onnx(logreg, X[:1].astype(np.float32)).SerializeToString())
    joblib.dump(logreg, folder / "model.pkl")
    (folder / "notes.txt").write_text("not a model\n")
    return {path.name: path for path in folder.iterdir()}


@pytest.mark.parametrize(
    ("file", "framework"),
    [("model.json", "xgboost"), ("model.ubj", "xgboost"), ("model.txt", "lightgbm"), ("model.onnx", "onnx")],
)
def test_each_framework_registers_its_own_file_format(
    sqlite_registry: Registry, model_name: str, model_files, iris, file: str, framework: str
) -> None:
    """The file loads with its framework, registers as a 4-feature 3-class classifier and serves labels."""
    record = sqlite_registry.register_file(model_name, model_files[file], framework=framework, data_version="b1")
    assert (record.task, record.framework, record.n_features, record.data_version) == (
        "classification",
        f"bentoml.{framework}",
        4,
        "b1",
    )
    X, y = iris
    predictions = np.asarray(sqlite_registry.load(model_name, "v1").model.predict(X.astype(np.float32)))
    assert (predictions.astype(int) == y).mean() > 0.9


def test_a_pickle_needs_the_trust_flag(sqlite_registry: Registry, model_name: str, model_files) -> None:
    """A scikit-learn pickle is refused without trust_pickle, saying why, and registers with it."""
    with pytest.raises(ModelFileError, match="unpickling runs any code it names; pass --trust-pickle") as caught:
        sqlite_registry.register_file(model_name, model_files["model.pkl"], framework="sklearn")
    assert caught.value.status == 422
    assert sqlite_registry.models() == []
    record = sqlite_registry.register_file(model_name, model_files["model.pkl"], framework="sklearn", trust_pickle=True)
    assert record.framework == "bentoml.sklearn"


@pytest.mark.parametrize(
    ("file", "framework"),
    [("model.json", "lightgbm"), ("notes.txt", "onnx"), ("model.txt", "xgboost"), ("model.onnx", "sklearn")],
)
def test_a_file_that_is_not_a_model_of_the_framework_writes_nothing(
    sqlite_registry: Registry, model_name: str, model_files, file: str, framework: str
) -> None:
    """Another framework's file, or text, is refused naming the file; no record, plan or local copy."""
    with pytest.raises(ModelFileError, match=rf"{file}"):
        sqlite_registry.register_file(model_name, model_files[file], framework=framework, trust_pickle=True)
    assert sqlite_registry.models() == [] and sqlite_registry.store.get_plan(model_name) is None
    assert bento_model(model_name, "v1") is None


def test_a_file_over_the_size_limit_is_refused(sqlite_url: str, model_name: str, model_files) -> None:
    """Over CANARYLINE_MAX_MODEL_FILE_BYTES: a 413 naming size and limit, nothing written."""
    registry = Registry(open_store(sqlite_url), max_file_bytes=1024)
    try:
        with pytest.raises(PayloadTooLargeError, match=r"model.json is \d+ bytes, over the limit of 1024") as caught:
            registry.register_file(model_name, model_files["model.json"], framework="xgboost")
        assert caught.value.status == 413 and registry.models() == []
    finally:
        registry.store.close()


def test_a_model_saved_with_bentoml_directly_is_adopted(
    sqlite_registry: Registry, model_name: str, iris_models, iris
) -> None:
    """bentoml.sklearn.save_model's model becomes a canaryline version: task, width, classes and digest told
    from its files, the first plan made, and it loads verified."""
    bentoml.sklearn.save_model(f"{model_name}:2026.12.1", iris_models["logreg"])
    record = sqlite_registry.adopt(f"{model_name}:2026.12.1", actor="ops")
    assert (record.task, record.n_features, record.classes, record.created_by) == (
        "classification",
        4,
        [0, 1, 2],
        "ops",
    )
    plan = sqlite_registry.store.get_plan(model_name)
    assert plan is not None and plan.stable == "2026.12.1"
    X, _ = iris
    loaded = sqlite_registry.load(model_name, "2026.12.1").model
    np.testing.assert_array_equal(loaded.predict(X), iris_models["logreg"].predict(X))


def _cli(*args: str, home: Path, store_url: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """`canaryline` with its own home and no BENTOML_HOME: BentoML's store would be home/bentoml."""
    env = {k: v for k, v in os.environ.items() if k != "BENTOML_HOME" and not k.startswith("CANARYLINE_")}
    env.update({"CANARYLINE_HOME": str(home), "CANARYLINE_STORE": store_url, **extra})
    return subprocess.run([str(CANARYLINE), *args], env=env, capture_output=True, text=True, timeout=180, check=False)


def test_register_from_a_ci_home_and_list_from_a_home_without_a_bentoml_store(
    tmp_path: Path, sqlite_url: str, model_files
) -> None:
    """The CLI registers a file with params, metrics and data version into a file:// artifact store; versions
    and models answer from another home that never had a BentoML model store; refusals exit 2 and write nothing."""
    artifacts = f"file://{tmp_path / 'artifacts'}"
    ci = tmp_path / "ci"
    refused = _cli(
        "register", "iris", str(model_files["model.pkl"]), "--framework", "sklearn",
        home=ci, store_url=sqlite_url, CANARYLINE_ARTIFACTS=artifacts,
    )  # fmt: skip
    assert refused.returncode == 2 and "--trust-pickle" in refused.stderr
    wrong = _cli(
        "register", "iris", str(model_files["model.txt"]), "--framework", "onnx",
        home=ci, store_url=sqlite_url, CANARYLINE_ARTIFACTS=artifacts,
    )  # fmt: skip
    assert wrong.returncode == 2 and "model.txt is not a onnx model file" in wrong.stderr
    done = _cli(
        "register", "iris", str(model_files["model.json"]), "--framework", "xgboost", "--version", "batch-42",
        "--param", "max_depth=2", "--param", "booster=gbtree", "--metric", "accuracy=0.96",
        "--data-version", "s3://data/iris/batch-42", "--code-version", "abc123", "--json",
        home=ci, store_url=sqlite_url, CANARYLINE_ARTIFACTS=artifacts,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    record = orjson.loads(done.stdout)
    assert record["params"] == {"max_depth": 2, "booster": "gbtree"} and record["metrics"] == {"accuracy": 0.96}
    assert record["artifact_uri"].startswith(artifacts + "/iris/batch-42/")
    laptop = tmp_path / "laptop"
    listed = _cli("versions", "iris", "--json", home=laptop, store_url=sqlite_url)
    assert listed.returncode == 0, listed.stderr
    [row] = orjson.loads(listed.stdout)
    assert (row["version"], row["data_version"], row["stable"]) == ("batch-42", "s3://data/iris/batch-42", True)
    models = _cli("models", "--json", home=laptop, store_url=sqlite_url)
    assert orjson.loads(models.stdout) == [{"model": "iris", "versions": 1, "stable": "batch-42"}]
    assert not (laptop / "bentoml").exists()
