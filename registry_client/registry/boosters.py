"""XGBoost and LightGBM through BentoML's ``bentoml.xgboost`` and ``bentoml.lightgbm``.

Both the scikit-learn API (``XGBClassifier``, ``LGBMRegressor``, …) and bare Boosters register.
``bentoml.xgboost`` keeps a scikit-learn model's class (option ``model_class``), so it loads back as
that class, labels and all. ``bentoml.lightgbm`` keeps only the Booster, and a Booster (of either
framework) answers class probabilities, not labels: :class:`BoosterModel` gives it ``predict`` (the
registered class with the highest probability) and ``predict_proba`` (a binary Booster's one
probability becomes the two columns a classifier answers).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from registry_client.registry.adapter import Task, import_framework, type_module

__all__ = ["BoosterModel", "LightGBMAdapter", "XGBoostAdapter"]

_CLASSIFYING = ("binary", "multi", "softmax", "multiclass", "multiclassova", "cross_entropy", "xentropy")


class BoosterModel:
    """A Booster as a scikit-learn-like model: ``predict`` and, for classifiers, ``predict_proba``."""

    def __init__(self, raw: Callable[[Any], Any], task: Task, classes: list[Any] | None, n_features: int) -> None:
        self._raw = raw
        self.task = task
        self.classes_ = np.asarray(classes) if classes is not None else None
        self.n_features_in_ = n_features
        if task == "classification":
            self.predict_proba = self._predict_proba

    def predict(self, features: Any) -> Any:
        if self.task == "regression":
            return np.asarray(self._raw(features), dtype=np.float64).ravel()
        return self._labels(self._predict_proba(features))

    def predict_labelled(self, features: Any) -> tuple[Any, Any]:
        """A classifier's labels and probabilities from one run of the Booster (``predict`` and then
        ``predict_proba`` would run it twice for the same answer)."""
        probabilities = self._predict_proba(features)
        return self._labels(probabilities), probabilities

    def _labels(self, probabilities: Any) -> Any:
        classes = self.classes_ if self.classes_ is not None else np.arange(probabilities.shape[1])
        return classes[probabilities.argmax(axis=1)]

    def _predict_proba(self, features: Any) -> Any:
        values = np.asarray(self._raw(features), dtype=np.float64)
        return np.column_stack([1.0 - values, values]) if values.ndim == 1 else values


def _sklearn_task(model: Any) -> Task | None:
    from sklearn.base import is_classifier, is_regressor

    if is_classifier(model):
        return "classification"
    return "regression" if is_regressor(model) else None


def _objective_task(objective: str | None) -> Task | None:
    if not objective:
        return None
    return "classification" if objective.split(":")[0].split()[0] in _CLASSIFYING else "regression"


def _names(values: Any) -> list[str] | None:
    return None if values is None else [str(v) for v in values]


def _classes_of(model: Any, n_classes: int | None) -> list[Any] | None:
    classes = getattr(model, "classes_", None)
    if classes is not None:
        return list(classes.tolist())
    return list(range(n_classes)) if n_classes else None


class XGBoostAdapter:
    module = "bentoml.xgboost"
    framework = "xgboost"
    extra: str | None = "xgboost"
    filename = "saved_model.ubj"  # bentoml.xgboost's file name

    def accepts(self, model: Any) -> bool:
        return type_module(model) == "xgboost" and hasattr(model, "save_model")

    def _is_booster(self, model: Any) -> bool:
        return type(model).__name__ == "Booster"

    def _objective(self, booster: Any) -> dict[str, Any]:
        learner: dict[str, Any] = json.loads(booster.save_config())["learner"]
        return learner

    def task(self, model: Any) -> Task | None:
        if not self._is_booster(model):
            return _sklearn_task(model)
        return _objective_task(self._objective(model)["objective"]["name"])

    def n_features(self, model: Any) -> int | None:
        return int(model.num_features()) if self._is_booster(model) else int(model.n_features_in_)

    def classes(self, model: Any) -> list[Any] | None:
        if not self._is_booster(model):
            return _classes_of(model, None)
        learner = self._objective(model)
        n = int(learner["learner_model_param"].get("num_class", "0"))
        return _classes_of(model, n if n > 1 else 2)

    def feature_names(self, model: Any) -> list[str] | None:
        if self._is_booster(model):
            return _names(model.feature_names)
        return _names(getattr(model, "feature_names_in_", None))

    def save(self, tag: str, model: Any, *, labels: dict[str, str], metadata: dict[str, Any]) -> None:
        import bentoml

        bentoml.xgboost.save_model(tag, model, labels=labels, metadata=metadata)

    def load(self, files: Mapping[str, bytes], options: Mapping[str, Any], *, task: Task, classes: Any) -> Any:
        xgb = import_framework("xgboost", "xgboost", "an XGBoost model")
        model = getattr(xgb, options.get("model_class") or "Booster")()
        model.load_model(bytearray(files[self.filename]))
        if not self._is_booster(model):
            return model

        def raw(features: Any) -> Any:
            return model.predict(xgb.DMatrix(features, enable_categorical=True))

        return BoosterModel(raw, task, classes, int(model.num_features()))


class LightGBMAdapter:
    module = "bentoml.lightgbm"
    framework = "lightgbm"
    extra: str | None = "lightgbm"
    filename = "saved_model.ubj"  # bentoml.lightgbm's file name (it holds LightGBM's text format)

    def accepts(self, model: Any) -> bool:
        return type_module(model) == "lightgbm"

    def _is_booster(self, model: Any) -> bool:
        return type(model).__name__ == "Booster"

    def task(self, model: Any) -> Task | None:
        if not self._is_booster(model):
            return _sklearn_task(model)
        return _objective_task(model.params.get("objective") or model.dump_model().get("objective"))

    def n_features(self, model: Any) -> int | None:
        return int(model.num_feature()) if self._is_booster(model) else int(model.n_features_in_)

    def classes(self, model: Any) -> list[Any] | None:
        if not self._is_booster(model):
            return _classes_of(model, None)
        n = int(model.params.get("num_class") or model.dump_model().get("num_class") or 1)
        return _classes_of(model, n if n > 1 else 2)

    def feature_names(self, model: Any) -> list[str] | None:
        """None: LightGBM rewrites the names it keeps (``petal length`` becomes ``petal_length``), and
        feeds a DataFrame's columns by position."""
        return None

    def save(self, tag: str, model: Any, *, labels: dict[str, str], metadata: dict[str, Any]) -> None:
        import bentoml

        bentoml.lightgbm.save_model(tag, model, labels=labels, metadata=metadata)

    def load(self, files: Mapping[str, bytes], options: Mapping[str, Any], *, task: Task, classes: Any) -> Any:
        lgb = import_framework("lightgbm", "lightgbm", "a LightGBM model")
        booster = lgb.Booster(model_str=files[self.filename].decode())
        return BoosterModel(booster.predict, task, classes, int(booster.num_feature()))
