"""The framework benchmark's models: an XGBoost and a LightGBM classifier on scikit-learn's breast-cancer data.

Each is trained once, registered with canaryline (its Python API, as a training job does: ``XGBClassifier``
is kept as its class, LightGBM as its Booster) and written, from the very same fitted estimator, as the model
file MLServer's runtime for it reads (XGBoost's JSON through the scikit-learn API, so mlserver-xgboost loads it
as an ``XGBClassifier``; LightGBM's text format). :func:`agreement` checks that both servers answer the same
probabilities, and :func:`floors` times each server's model calls in-process: the gateway calls ``predict``
and ``predict_proba``, mlserver-xgboost does the same for a body asking for both outputs, mlserver-lightgbm
calls ``Booster.predict`` once (it answers only ``predict``, the probabilities) whatever the body asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

from .model_floor import as_served, per_call_us

__all__ = ["VERSION", "Trained", "agreement", "cancer_rows", "floors", "register", "train"]

VERSION = "v1"
#: The same trees for both frameworks: 100 of depth at most 4.
TREES, DEPTH = 100, 4
#: Each framework's MLServer runtime and the model file it reads.
RUNTIMES = {
    "xgboost": ("mlserver_xgboost.XGBoostModel", "model.json"),
    "lightgbm": ("mlserver_lightgbm.LightGBMModel", "model.bst"),
}


@dataclass(frozen=True)
class Trained:
    framework: str  # "xgboost" or "lightgbm"
    name: str  # the model's name at the gateway and at MLServer alike
    model: Any  # the fitted estimator
    file: Path  # the model file MLServer reads, written from ``model``

    @property
    def implementation(self) -> str:
        return RUNTIMES[self.framework][0]


def cancer_rows() -> list[list[float]]:
    """The 569 breast-cancer rows (30 features each): the rows every arm sends, one a request."""
    from sklearn.datasets import load_breast_cancer

    features, _ = load_breast_cancer(return_X_y=True)
    return [[float(x) for x in row] for row in features.tolist()]


def train(folder: Path) -> dict[str, Trained]:
    """Both classifiers, fitted on breast_cancer (deterministic), their MLServer files under ``folder``."""
    import lightgbm as lgb
    import xgboost as xgb
    from sklearn.datasets import load_breast_cancer

    features, labels = load_breast_cancer(return_X_y=True)
    xgboost = xgb.XGBClassifier(n_estimators=TREES, max_depth=DEPTH, random_state=0).fit(features, labels)
    lightgbm = lgb.LGBMClassifier(n_estimators=TREES, max_depth=DEPTH, random_state=0, verbose=-1)
    lightgbm.fit(features, labels)
    trained = {}
    for framework, model in (("xgboost", xgboost), ("lightgbm", lightgbm)):
        path = folder / framework / RUNTIMES[framework][1]
        path.parent.mkdir(parents=True, exist_ok=True)
        if framework == "xgboost":
            model.save_model(path)  # the scikit-learn API's file keeps the estimator type mlserver-xgboost reads
        else:
            model.booster_.save_model(path)
        trained[framework] = Trained(framework, f"cancer-{framework}", model, path)
    return trained


def register(store_url: str, trained: dict[str, Trained]) -> None:
    """Register each model as version v1 (its first version: the stable of its plan) in ``store_url``."""
    from registry_client.registry.registry import Registry
    from registry_client.store import open_store

    registry = Registry(open_store(store_url))
    try:
        for t in trained.values():
            registry.register(
                t.name, t.model, version=VERSION, data_version="sklearn/breast_cancer", code_version="load_tests"
            )
    finally:
        registry.store.close()


def _class_one(answer: dict[str, Any]) -> list[float]:
    """The probability of class 1 per row in a V2 answer (``predict_proba``'s [rows, 2], or mlserver-lightgbm's
    ``predict``: the Booster's one probability a row)."""
    outputs = {o["name"]: o for o in answer["outputs"]}
    if "predict_proba" in outputs:
        data = outputs["predict_proba"]["data"]
        return [float(x) for x in data[1::2]]
    return [float(x) for x in outputs["predict"]["data"]]


def agreement(gateway_url: str, mlserver_url: str, name: str, bodies: list[bytes], n: int = 20) -> float:
    """The largest difference between the two servers' class-1 probabilities over the first ``n`` bodies."""
    worst = 0.0
    path = f"/v2/models/{name}/infer"
    with httpx.Client(timeout=30) as client:
        for body in bodies[:n]:
            answers = []
            for url in (gateway_url, mlserver_url):
                response = client.post(url + path, content=body, headers={"content-type": "application/json"})
                response.raise_for_status()
                answers.append(_class_one(orjson.loads(response.content)))
            worst = max(worst, *(abs(a - b) for a, b in zip(*answers, strict=True)))
    return worst


def floors(store_url: str, trained: dict[str, Trained], n: int = 1000) -> dict[str, dict[str, float]]:
    """µs per single-row request spent in each server's model calls, timed in this process: the gateway's
    model as the registry loads it, called as the gateway calls it (:func:`as_served`), and the model as
    MLServer's runtime loads the same file, called as that runtime calls it."""
    import lightgbm as lgb
    import xgboost as xgb

    from registry_client.registry.registry import Registry
    from registry_client.store import open_store

    rows = cancer_rows()
    registry = Registry(open_store(store_url))
    try:
        served = {f: registry.load(t.name, VERSION).model for f, t in trained.items()}
    finally:
        registry.store.close()
    mlserver_xgb = xgb.XGBClassifier()
    mlserver_xgb.load_model(trained["xgboost"].file)
    mlserver_lgb = lgb.Booster(model_file=str(trained["lightgbm"].file))

    result = {}
    for framework, model in served.items():
        mlserver_call = (
            as_served(mlserver_xgb)  # an XGBClassifier: predict, then predict_proba, as mlserver-xgboost does
            if framework == "xgboost"
            else lambda row: mlserver_lgb.predict(np.asarray([row], dtype=np.float64))
        )
        result[framework] = {
            "gateway_us": per_call_us(as_served(model), rows, n),
            "mlserver_us": per_call_us(mlserver_call, rows, n),
        }
    return result
