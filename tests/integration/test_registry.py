"""The registry on the real BentoML model store: versions, metadata, immutability and integrity."""

from __future__ import annotations

import re
from pathlib import Path

import bentoml
import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_diabetes
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from registry_client.errors import (
    ArtifactIntegrityError,
    IncompatibleVersionError,
    InvalidTaskError,
    InvalidVersionError,
    ModelNotFoundError,
    UnsupportedModelError,
    VersionExistsError,
)
from registry_client.registry.local_models import bento_model, bento_versions
from registry_client.registry.registry import Registry


def test_register_saves_a_bentoml_model_with_metadata(
    sqlite_registry: Registry, model_name: str, iris_models, iris
) -> None:
    """A registered version is BentoML tag name:v1 carrying params, metrics, versions and SHA-256."""
    v = sqlite_registry.register(
        model_name,
        iris_models["logreg"],
        params={"C": 1.0},
        metrics={"accuracy": 0.97},
        data_version="iris@sklearn",
        code_version="abc123",
        description="baseline",
    )
    assert (v.version, v.task, v.framework, v.n_features, v.classes) == (
        "v1",
        "classification",
        "bentoml.sklearn",
        4,
        [0, 1, 2],
    )
    assert (v.params, v.metrics, v.data_version, v.code_version) == (
        {"C": 1.0},
        {"accuracy": 0.97},
        "iris@sklearn",
        "abc123",
    )
    assert len(v.sha256) == 64
    bento_model = bentoml.models.get(f"{model_name}:v1")
    assert bento_model.info.metadata["sha256"] == v.sha256
    X, _ = iris
    np.testing.assert_array_equal(
        bentoml.sklearn.load_model(f"{model_name}:v1").predict(X), iris_models["logreg"].predict(X)
    )


def test_default_versions_count_up_and_list_in_numeric_order(
    sqlite_registry: Registry, model_name: str, iris_models
) -> None:
    """Versions default to v1, v2, …; listing orders them numerically (v10 after v9)."""
    for _ in range(11):
        sqlite_registry.register(model_name, iris_models["tree"])
    assert [v.version for v in sqlite_registry.versions(model_name)] == [f"v{i}" for i in range(1, 12)]


def test_first_version_becomes_stable_and_later_ones_do_not(
    sqlite_registry: Registry, model_name: str, iris_models
) -> None:
    """Only the first registration creates the plan; later ones leave what is served alone."""
    sqlite_registry.register(model_name, iris_models["logreg"])
    sqlite_registry.register(model_name, iris_models["tree"])
    plan = sqlite_registry.store.get_plan(model_name)
    assert plan is not None and (plan.stable, plan.revision) == ("v1", 1)
    assert [e.action for e in sqlite_registry.store.history(model_name)] == ["create"]


def test_an_existing_version_is_never_overwritten(sqlite_registry: Registry, model_name: str, iris_models) -> None:
    """Registering an explicit version twice is an error naming it; the first artifact stays."""
    first = sqlite_registry.register(model_name, iris_models["logreg"], version="2024.1")
    with pytest.raises(VersionExistsError, match=f"model '{model_name}' already has version '2024.1'"):
        sqlite_registry.register(model_name, iris_models["tree"], version="2024.1")
    assert sqlite_registry.get(model_name, "2024.1").sha256 == first.sha256


def test_invalid_names_and_objects_are_refused(sqlite_registry: Registry, model_name: str, iris_models) -> None:
    """Bad version names, bad model names and non-models are refused before anything is written."""
    with pytest.raises(InvalidVersionError, match="version 'V1' is invalid"):
        sqlite_registry.register(model_name, iris_models["logreg"], version="V1")
    with pytest.raises(InvalidVersionError, match="model name 'Bad Name' is invalid"):
        sqlite_registry.register("Bad Name", iris_models["logreg"])
    with pytest.raises(InvalidVersionError, match=r"model name 'iris\\n' is invalid"):
        sqlite_registry.register("iris\n", iris_models["logreg"])
    with pytest.raises(UnsupportedModelError, match=r"builtins\.dict"):
        sqlite_registry.register(model_name, {"not": "a model"})
    with pytest.raises(ModelNotFoundError):
        sqlite_registry.versions(model_name)
    assert sqlite_registry.store.get_plan(model_name) is None


def test_regressors_register_without_classes(sqlite_registry: Registry, model_name: str, diabetes_ridge) -> None:
    """A regression model records its task and feature count and no classes."""
    v = sqlite_registry.register(model_name, diabetes_ridge, task="regression")
    assert (v.task, v.n_features, v.classes) == ("regression", 10, None)


def test_load_verifies_the_artifact(sqlite_registry: Registry, model_name: str, iris_models, iris) -> None:
    """Loading checks the SHA-256; a tampered artifact is refused, naming model and version."""
    sqlite_registry.register(model_name, iris_models["logreg"])
    X, _ = iris
    loaded = sqlite_registry.load(model_name, "v1")
    np.testing.assert_array_equal(loaded.model.predict(X), iris_models["logreg"].predict(X))
    artifact = Path(bentoml.models.get(f"{model_name}:v1").path_of("saved_model.pkl"))
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    with pytest.raises(ArtifactIntegrityError, match=f"model '{model_name}' version 'v1': artifact SHA-256 is"):
        sqlite_registry.load(model_name, "v1")


def test_models_lists_registered_models(sqlite_registry: Registry, model_name: str, iris_models) -> None:
    """models() names every model with canaryline versions."""
    sqlite_registry.register(model_name, iris_models["tree"])
    assert model_name in sqlite_registry.models()


def test_string_label_classifiers_register_and_serve(sqlite_registry: Registry, model_name: str, iris) -> None:
    """A classifier trained on text labels records them as strings and predicts them."""
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    v = sqlite_registry.register(model_name, LogisticRegression(max_iter=500).fit(X, names))
    assert v.classes == ["setosa", "versicolor", "virginica"]
    assert sqlite_registry.load(model_name, "v1").model.predict(X[:1]).tolist() == ["setosa"]


def test_a_regressor_registered_without_a_task_is_a_regressor(
    sqlite_registry: Registry, model_name: str, diabetes_ridge
) -> None:
    """Without task=, the task comes from scikit-learn: a Ridge is a regressor, so a 175.5 outcome fits it."""
    v = sqlite_registry.register(model_name, diabetes_ridge)
    assert (v.task, v.n_features, v.classes) == ("regression", 10, None)
    assert sqlite_registry.get(model_name, "v1").task == "regression"


def test_a_pipeline_takes_the_task_of_its_last_step(sqlite_registry: Registry, model_name: str, iris) -> None:
    """A scaler followed by a classifier is a classifier; followed by a regressor, a regressor."""
    X, y = iris
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500)).fit(X, y)
    regressor = make_pipeline(StandardScaler(), Ridge()).fit(X, y.astype(float))
    assert sqlite_registry.register(model_name, classifier).task == "classification"
    assert sqlite_registry.register(model_name + "r", regressor).task == "regression"


def test_a_declared_task_must_agree_with_the_estimator(
    sqlite_registry: Registry, model_name: str, diabetes_ridge, iris_models
) -> None:
    """task='classification' for a Ridge, or an unknown task, is a 422 naming the model; nothing is saved."""
    with pytest.raises(InvalidTaskError, match=rf"model '{model_name}'.*Ridge is a regressor.*task='classification'"):
        sqlite_registry.register(model_name, diabetes_ridge, task="classification")
    with pytest.raises(InvalidTaskError, match="task 'ranking' is invalid") as caught:
        sqlite_registry.register(model_name, iris_models["logreg"], task="ranking")  # type: ignore[arg-type]
    assert caught.value.status == 422
    assert sqlite_registry.register(model_name, iris_models["logreg"], task="classification").version == "v1"


def test_an_estimator_that_is_neither_needs_an_explicit_task(sqlite_registry: Registry, model_name: str, iris) -> None:
    """A clusterer is neither classifier nor regressor: refused, saying to pass task=, unless task is given."""
    X, _ = iris
    clusters = KMeans(n_clusters=3, n_init=1, random_state=0).fit(X)
    with pytest.raises(InvalidTaskError, match=rf"model '{model_name}'.*KMeans.*pass task='classification'") as caught:
        sqlite_registry.register(model_name, clusters)
    assert caught.value.status == 422
    with pytest.raises(ModelNotFoundError):
        sqlite_registry.versions(model_name)
    assert sqlite_registry.register(model_name, clusters, task="classification").task == "classification"


def test_every_version_of_a_model_has_its_task_and_input_width(
    sqlite_registry: Registry, model_name: str, iris_models, diabetes_ridge
) -> None:
    """A regressor, or a classifier on 10 features, as a new version of a 4-feature classifier is refused (409)
    before anything is written: no BentoML model is left behind and the plan is untouched."""
    sqlite_registry.register(model_name, iris_models["logreg"])
    with pytest.raises(IncompatibleVersionError, match=rf"model '{model_name}'.*classification.*not regression"):
        sqlite_registry.register(model_name, diabetes_ridge)
    X, y = load_diabetes(return_X_y=True)
    wide = LogisticRegression(max_iter=500).fit(X, y > 140)
    with pytest.raises(IncompatibleVersionError, match=r"versions take 4 input features.*takes 10") as caught:
        sqlite_registry.register(model_name, wide, version="wide")
    assert caught.value.status == 409
    assert [m.tag.version for m in bentoml.models.list(model_name)] == ["v1"]
    assert [v.version for v in sqlite_registry.versions(model_name)] == ["v1"]
    assert sqlite_registry.register(model_name, iris_models["tree"]).version == "v2"


@pytest.mark.parametrize("alias", ["latest", "V1", "V2", "../v1", "iris:v1", "\u0087", "v1\n"])
def test_a_version_is_looked_up_by_its_exact_name_never_an_alias(
    sqlite_registry: Registry, model_name: str, iris_models, alias: str
) -> None:
    """'latest', case variants and other non-names find no version (BentoML would resolve some of them)."""
    sqlite_registry.register(model_name, iris_models["logreg"])
    sqlite_registry.register(model_name, iris_models["tree"])
    with pytest.raises(ModelNotFoundError, match=re.escape(f"has no version {alias!r}")):
        sqlite_registry.get(model_name, alias)
    with pytest.raises(ModelNotFoundError, match=re.escape(f"has no version {alias!r}")):
        sqlite_registry.load(model_name, alias)


@pytest.mark.parametrize("name", ["a b", "x:y", "x:", "UPPER", "-x", "m" * 64])
def test_a_look_up_by_a_model_name_that_breaks_the_rule_names_the_rule(
    sqlite_registry: Registry, model_name: str, iris_models, name: str
) -> None:
    """get, versions, load and archive refuse a model name that breaks the rule with the rule, before BentoML sees
    it ('x:' made BentoML's tag parser raise, and the upper-case name was folded to the registered one)."""
    sqlite_registry.register(model_name, iris_models["logreg"])
    bad = model_name.upper() if name == "UPPER" else name
    for look_up in (
        lambda: sqlite_registry.get(bad, "v1"),
        lambda: sqlite_registry.load(bad, "v1"),
        lambda: sqlite_registry.versions(bad),
        lambda: sqlite_registry.archive(bad, "v1", actor="tests"),
    ):
        with pytest.raises(ModelNotFoundError, match=re.escape(f"no model {bad!r} is registered: model names match")):
            look_up()
    assert bento_versions(bad) == [] and bento_model(bad, "v1") is None
