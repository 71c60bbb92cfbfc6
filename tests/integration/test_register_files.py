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
from tests.support.cli import CANARYLINE, canaryline, run_json


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


def _env(home: Path, store_url: str, **extra: str) -> dict[str, str]:
    """A machine of its own: its home, no BENTOML_HOME (BentoML's store would be home/bentoml)."""
    env = {k: v for k, v in os.environ.items() if k != "BENTOML_HOME" and not k.startswith("CANARYLINE_")}
    env.update({"CANARYLINE_HOME": str(home), "CANARYLINE_STORE": store_url, **extra})
    return env


def _cli(*args: str, home: Path, store_url: str, **extra: str) -> subprocess.CompletedProcess[str]:
    env = _env(home, store_url, **extra)
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


def test_adopt_archive_and_the_registry_audit_through_the_cli(
    tmp_path: Path, sqlite_url: str, model_name: str, iris_models
) -> None:
    """adopt registers BentoML-saved models; archive refuses the stable version (exit 2) and archives another,
    which versions lists only with --all; history shows the registry audit with actor and reason."""
    for version, key in (("2026.1", "logreg"), ("2026.2", "tree")):
        bentoml.sklearn.save_model(f"{model_name}:{version}", iris_models[key])
        adopted = canaryline("adopt", f"{model_name}:{version}", "--json", store_url=sqlite_url, home=tmp_path)
        assert adopted.returncode == 0, adopted.stderr
        assert orjson.loads(adopted.stdout)["artifact_uri"] == f"bentoml:{model_name}:{version}"
    refused = canaryline("archive", model_name, "2026.1", store_url=sqlite_url, home=tmp_path)
    assert refused.returncode == 2 and "is the stable version of plan revision 1" in refused.stderr
    done = canaryline(
        "archive", model_name, "2026.2", "--reason", "worse on batch 2", store_url=sqlite_url, home=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert [v["version"] for v in run_json("versions", model_name, store_url=sqlite_url, home=tmp_path)] == ["2026.1"]
    every = run_json("versions", model_name, "--all", store_url=sqlite_url, home=tmp_path)
    assert [(v["version"], v["archived"]) for v in every] == [("2026.1", False), ("2026.2", True)]
    history = canaryline("history", model_name, store_url=sqlite_url, home=tmp_path)
    assert "registry audit" in history.stdout and "worse on batch 2" in history.stdout
    assert history.stdout.count("register") >= 2 and "archive" in history.stdout


def test_ci_jobs_on_separate_machines_registering_at_once_get_distinct_default_versions(
    tmp_path: Path, sqlite_url: str, model_files
) -> None:
    """Three `canaryline register` processes with their own homes, one store and artifact location, no
    --version: each gets its own vN (a name another job took in the store is skipped), one archive each."""
    artifacts = tmp_path / "artifacts"
    jobs = [
        subprocess.Popen(
            [str(CANARYLINE), "register", "iris", str(model_files["model.json"]), "--framework", "xgboost", "--json"],
            env=_env(tmp_path / f"job-{i}", sqlite_url, CANARYLINE_ARTIFACTS=f"file://{artifacts}"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    answers = [job.communicate(timeout=180) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0, 0], [err for _, err in answers]
    assert sorted(orjson.loads(out)["version"] for out, _ in answers) == ["v1", "v2", "v3"]
    assert len(list(artifacts.rglob("*.bentomodel"))) == 3
    listed = _cli("versions", "iris", "--json", home=tmp_path / "laptop", store_url=sqlite_url)
    assert [v["version"] for v in orjson.loads(listed.stdout)] == ["v1", "v2", "v3"]
