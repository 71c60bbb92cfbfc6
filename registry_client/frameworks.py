"""Framework adapters: how a model object is written into a BentoML model folder and read back.

scikit-learn is the first; an adapter for xgboost, lightgbm or pytorch implements the same three
methods and is added to ``ADAPTERS`` under BentoML's module name for that framework.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from .errors import UnsupportedModelError

__all__ = [
    "ADAPTERS",
    "FrameworkAdapter",
    "SklearnAdapter",
    "adapter_for_model",
    "adapter_for_module",
]


class FrameworkAdapter(Protocol):
    #: BentoML's module name, kept in the model's info so ``bentoml.<framework>.load_model`` works too.
    module: str
    framework: str

    def accepts(self, model: Any) -> bool: ...

    def write(self, model: Any, folder: Path) -> None: ...

    def load(self, files: Mapping[str, bytes]) -> Any: ...


class SklearnAdapter:
    module = "bentoml.sklearn"
    framework = "sklearn"
    filename = "saved_model.pkl"  # BentoML's own file name, so bentoml.sklearn.load_model reads it

    def accepts(self, model: Any) -> bool:
        from sklearn.base import BaseEstimator

        return isinstance(model, BaseEstimator)

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
