"""The models load tests and benchmarks serve, trained on the iris and wine data sets scikit-learn ships.

``iris`` has three versions: ``v1`` (stable), ``v2`` (the canary) and ``v3``, a deliberately slower random
forest used as the shadow. ``wine`` has one. BentoML reads ``BENTOML_HOME`` when it is first imported,
so callers set it before calling :func:`register_models`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sklearn.datasets import load_iris, load_wine
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from registry_client.domain.plan import Plan
from registry_client.registry.registry import Registry
from registry_client.store import open_store

__all__ = ["IRIS", "WINE", "Dataset", "dataset", "ensure_plan", "iris_versions", "register_models"]

IRIS = "iris"
WINE = "wine"


@dataclass(frozen=True)
class Dataset:
    name: str
    rows: list[list[float]]
    labels: list[int]


def dataset(name: str) -> Dataset:
    X, y = (load_iris if name == IRIS else load_wine)(return_X_y=True)
    return Dataset(name, X.tolist(), [int(v) for v in y])


def iris_versions() -> dict[str, Any]:
    """v1 and v2: logistic regressions (a single-row predict costs ~0.3 ms); v3: a 100-tree forest (~10x slower)."""
    X, y = load_iris(return_X_y=True)
    return {
        "v1": LogisticRegression(max_iter=500).fit(X, y),
        "v2": LogisticRegression(C=0.1, max_iter=500).fit(X, y),
        "v3": RandomForestClassifier(n_estimators=100, max_depth=4, random_state=0).fit(X, y),
    }


def register_models(store_url: str, *, wine: bool = True) -> dict[str, Any]:
    """Register iris v1–v3 (and wine v1) into the BentoML model store with their plan in ``store_url``.

    Returns the iris models by version, so benchmarks can time and serve the very same objects.
    """
    registry = Registry(open_store(store_url))
    try:
        models = iris_versions()
        for version, model in models.items():
            registry.register(IRIS, model, version=version, data_version="sklearn/iris", code_version="load_tests")
        if wine:
            X, y = load_wine(return_X_y=True)
            model = LogisticRegression(max_iter=5000).fit(X, y)
            registry.register(WINE, model, version="v1", data_version="sklearn/wine", code_version="load_tests")
    finally:
        registry.store.close()
    return models


def ensure_plan(store_url: str, model: str, stable: str) -> None:
    """Give another store (e.g. another Redis database) a plan for a model already in the model store."""
    store = open_store(store_url)
    try:
        if store.get_plan(model) is None:
            store.save_plan(Plan.initial(model, stable), before=None, action="create")
    finally:
        store.close()
