"""Framework adapters (the seam, :mod:`registry_client.registry.adapter`), and which one takes a model.

scikit-learn (any estimator or Pipeline, including ColumnTransformer, OneHotEncoder and text vectorizers
over a DataFrame) is always installed; XGBoost and LightGBM (:mod:`.boosters`) and ONNX (:mod:`.onnx_models`)
and MLflow pyfunc models (:mod:`.mlflow_models`) are extras (``canaryline[xgboost]``, ``[lightgbm]``,
``[onnx]``, ``[mlflow]``). They are tried first: an
``XGBClassifier`` is a scikit-learn estimator too, but its own framework saves it without pickle. A
version's task never rests on a default: the framework tells it (scikit-learn's ``is_classifier`` looks
at the last step of a Pipeline) or the registration declares it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from registry_client.errors import UnsupportedModelError
from registry_client.registry.adapter import FrameworkAdapter, Task
from registry_client.registry.boosters import LightGBMAdapter, XGBoostAdapter
from registry_client.registry.mlflow_models import MlflowAdapter
from registry_client.registry.onnx_models import OnnxAdapter

__all__ = [
    "ADAPTERS",
    "FrameworkAdapter",
    "SklearnAdapter",
    "Task",
    "adapter_for_model",
    "adapter_for_module",
]


class SklearnAdapter:
    module = "bentoml.sklearn"
    framework = "sklearn"
    extra: str | None = None
    filename = "saved_model.pkl"  # BentoML's own file name, so bentoml.sklearn.load_model reads it

    def accepts(self, model: Any) -> bool:
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def task(self, model: Any) -> Task | None:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            return "classification"
        return "regression" if is_regressor(model) else None

    def n_features(self, model: Any) -> int | None:
        n = getattr(model, "n_features_in_", None)
        return None if n is None else int(n)

    def classes(self, model: Any) -> list[Any] | None:
        classes = getattr(model, "classes_", None)
        # tolist() gives native ints, floats or strs for any numpy dtype (orjson cannot encode str arrays)
        return None if classes is None else list(classes.tolist() if hasattr(classes, "tolist") else classes)

    def feature_names(self, model: Any) -> list[str] | None:
        names = getattr(model, "feature_names_in_", None)
        return None if names is None else [str(n) for n in names]

    def save(self, tag: str, model: Any, *, labels: dict[str, str], metadata: dict[str, Any]) -> None:
        import bentoml

        bentoml.sklearn.save_model(tag, model, labels=labels, metadata=metadata)

    def load(self, files: Mapping[str, bytes], options: Mapping[str, Any], *, task: Task, classes: Any) -> Any:
        import io

        import joblib

        return joblib.load(io.BytesIO(files[self.filename]))


ADAPTERS: dict[str, FrameworkAdapter] = {
    adapter.module: adapter
    for adapter in (XGBoostAdapter(), LightGBMAdapter(), OnnxAdapter(), MlflowAdapter(), SklearnAdapter())
}


def adapter_for_model(model: Any) -> FrameworkAdapter:
    for adapter in ADAPTERS.values():
        if adapter.accepts(model):
            return adapter
    offered = ", ".join(a.framework + (f" (canaryline[{a.extra}])" if a.extra else "") for a in ADAPTERS.values())
    raise UnsupportedModelError(
        f"cannot register a {type(model).__module__}.{type(model).__qualname__}: supported frameworks are {offered}"
    )


def adapter_for_module(module: str) -> FrameworkAdapter:
    try:
        return ADAPTERS[module]
    except KeyError:
        raise UnsupportedModelError(f"no adapter loads models saved with {module!r}") from None
