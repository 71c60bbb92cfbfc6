"""The framework seam: what an adapter does for the registry, and the pieces every adapter shares.

An adapter saves a model through BentoML's own framework module (``bentoml.sklearn.save_model``,
``bentoml.xgboost.save_model``, …), so the folder is laid out as BentoML lays it and
``bentoml.<framework>.load_model`` reads it too. It loads from the bytes the registry has just
verified (:func:`registry_client.registry.artifacts.read_verified`) with the framework's own loader,
never from the folder again: BentoML's ``load_model`` re-reads the disk after the check, so what it
loaded would not be what was verified.

A loaded model answers ``predict(features)`` and, for a classifier, ``predict_proba(features)``, where
``features`` is a float64 matrix (a version without an input schema) or a pandas DataFrame with the
schema's dtypes.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any, Literal, Protocol

from registry_client.errors import UnsupportedModelError

__all__ = ["FrameworkAdapter", "Task", "import_framework", "type_module"]

Task = Literal["classification", "regression"]


class FrameworkAdapter(Protocol):
    #: BentoML's module name, kept in the model's info so ``bentoml.<framework>.load_model`` works too.
    module: str
    framework: str
    #: The pip extra that installs the framework (``canaryline[xgboost]``); None when always installed.
    extra: str | None

    def accepts(self, model: Any) -> bool:
        """Whether ``model`` is this framework's; must not import the framework when it is not installed."""

    def task(self, model: Any) -> Task | None:
        """``"classification"`` or ``"regression"`` as the framework tells it, None when it cannot tell."""

    def n_features(self, model: Any) -> int | None: ...

    def classes(self, model: Any) -> list[Any] | None: ...

    def feature_names(self, model: Any) -> list[str] | None:
        """The column names the model was fitted on, when the framework kept them."""

    def save(self, tag: str, model: Any, *, labels: dict[str, str], metadata: dict[str, Any]) -> None:
        """Save ``model`` as ``tag`` in BentoML's model store through BentoML's framework module."""

    def load(self, files: Mapping[str, bytes], options: Mapping[str, Any], *, task: Task, classes: Any) -> Any:
        """The model from the verified ``files``; ``options`` are BentoML's model options (``model_class``)."""


def type_module(model: Any) -> str:
    """The top-level package that defined ``model``'s class (``xgboost`` for an ``XGBClassifier``)."""
    return type(model).__module__.partition(".")[0]


def import_framework(name: str, extra: str, what: str) -> ModuleType:
    """Import ``name``, or refuse with UnsupportedModelError naming the extra that installs it."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise UnsupportedModelError(
            f"{what} needs {name}, which is not installed here: pip install 'canaryline[{extra}]' ({exc})"
        ) from exc
