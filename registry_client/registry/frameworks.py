"""Framework adapters: how a model object is written into a BentoML model folder and read back.

scikit-learn is the first; an adapter for xgboost, lightgbm or pytorch implements the same four
methods and is added to ``ADAPTERS`` under BentoML's module name for that framework. ``task`` says
what the framework itself knows of the model (scikit-learn: ``is_classifier`` / ``is_regressor``,
which look at the last step of a Pipeline), so a version's task never rests on a default.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from registry_client.errors import UnsupportedModelError

__all__ = [
    "ADAPTERS",
    "FrameworkAdapter",
    "SklearnAdapter",
    "Task",
    "adapter_for_model",
    "adapter_for_module",
]


Task = Literal["classification", "regression"]


class FrameworkAdapter(Protocol):
    #: BentoML's module name, kept in the model's info so ``bentoml.<framework>.load_model`` works too.
    module: str
    framework: str

    def accepts(self, model: Any) -> bool: ...

    def task(self, model: Any) -> Task | None:
        """``"classification"`` or ``"regression"`` as the framework tells it, None when it cannot tell."""

    def write(self, model: Any, folder: Path) -> None: ...

    def load(self, files: Mapping[str, bytes]) -> Any: ...


class SklearnAdapter:
    module = "bentoml.sklearn"
    framework = "sklearn"
    filename = "saved_model.pkl"  # BentoML's own file name, so bentoml.sklearn.load_model reads it

    def accepts(self, model: Any) -> bool:
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

    def task(self, model: Any) -> Task | None:
        from sklearn.base import is_classifier, is_regressor

        if is_classifier(model):
            return "classification"
        return "regression" if is_regressor(model) else None

    def write(self, model: Any, folder: Path) -> None:
        import joblib

        joblib.dump(model, folder / self.filename)

    def load(self, files: Mapping[str, bytes]) -> Any:
        import joblib

        return joblib.load(io.BytesIO(files[self.filename]))


ADAPTERS: dict[str, FrameworkAdapter] = {SklearnAdapter.module: SklearnAdapter()}


def adapter_for_model(model: Any) -> FrameworkAdapter:
    for adapter in ADAPTERS.values():
        if adapter.accepts(model):
            return adapter
    raise UnsupportedModelError(
        f"cannot register a {type(model).__module__}.{type(model).__qualname__}: supported frameworks are "
        + ", ".join(a.framework for a in ADAPTERS.values())
    )


def adapter_for_module(module: str) -> FrameworkAdapter:
    try:
        return ADAPTERS[module]
    except KeyError:
        raise UnsupportedModelError(f"no adapter loads models saved with {module!r}") from None
