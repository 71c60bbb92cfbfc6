"""MLflow models through BentoML's ``bentoml.mlflow`` (extra ``canaryline[mlflow]``), served as pyfunc.

Register an :class:`MlflowModel`: a URI MLflow resolves (a local model directory, ``runs:/…``,
``models:/name/version`` or ``models:/name@alias`` against ``MLFLOW_TRACKING_URI``).
``bentoml.mlflow.import_model`` copies it into the version's folder. Its signature, when it has one, is
the version's input schema (MLflow's ``double``/``float`` a number, ``long``/``integer`` an integer,
``boolean``, ``string``; an optional column nullable), so the gateway validates named inputs before
MLflow's own schema enforcement sees them. The task and classes are the scikit-learn flavor's when the
model has one; otherwise ``task=`` is needed. A pyfunc answers ``predict`` only: no probabilities.
"""

from __future__ import annotations

import shutil
import tempfile
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from registry_client.domain.schema import Field, InputSchema, Kind
from registry_client.errors import SchemaError, UnsupportedModelError
from registry_client.registry.adapter import Task, import_framework

__all__ = ["MlflowAdapter", "MlflowModel", "PyfuncModel"]

_FOLDER = "mlflow_model"  # bentoml.mlflow's folder name
_KINDS: dict[str, Kind] = {
    "double": "number",
    "float": "number",
    "long": "integer",
    "integer": "integer",
    "boolean": "boolean",
    "string": "string",
}


@dataclass(frozen=True)
class MlflowModel:
    """An MLflow model to register, by the URI MLflow resolves."""

    uri: str

    def _meta(self) -> Any:
        mlflow = import_framework("mlflow", "mlflow", "an MLflow model")
        local = import_framework("mlflow.artifacts", "mlflow", "an MLflow model").download_artifacts(self.uri)
        try:
            return mlflow.models.Model.load(local), local
        except Exception as exc:  # MLflow raises its own and OSError for a folder without an MLmodel
            raise UnsupportedModelError(f"{self.uri!r} is not an MLflow model: {exc}") from exc

    def schema(self) -> InputSchema | None:
        """The input schema its MLflow signature declares; None without a column-based signature."""
        meta, _ = self._meta()
        inputs = meta.signature.inputs if meta.signature is not None else None
        if inputs is None or not inputs.has_input_names():
            return None
        fields = []
        for spec in inputs.inputs:
            kind = _KINDS.get(str(getattr(spec.type, "name", spec.type)))
            if kind is None:
                raise SchemaError(f"MLflow column {spec.name!r} has type {spec.type}, which no input kind holds")
            fields.append(Field(spec.name, kind, nullable=not getattr(spec, "required", True)))
        return InputSchema(tuple(fields))

    def sklearn_model(self) -> Any:
        """The scikit-learn estimator inside, when it has that flavor; else None."""
        meta, local = self._meta()
        if "sklearn" not in meta.flavors:
            return None
        return import_framework("mlflow.sklearn", "mlflow", "an MLflow model").load_model(local)


class PyfuncModel:
    """An MLflow pyfunc as a model: ``predict`` only (MLflow's pyfunc has no probabilities)."""

    def __init__(self, pyfunc: Any, folder: str, n_features: int | None) -> None:
        self.pyfunc = pyfunc
        self.n_features_in_ = n_features
        # The verified files it was loaded from live as long as it does (a pyfunc may read them lazily).
        weakref.finalize(self, shutil.rmtree, folder, ignore_errors=True)

    def predict(self, features: Any) -> Any:
        return np.asarray(self.pyfunc.predict(features)).ravel()


class MlflowAdapter:
    module = "bentoml.mlflow"
    framework = "mlflow"
    extra: str | None = "mlflow"

    def accepts(self, model: Any) -> bool:
        return isinstance(model, MlflowModel)

    def task(self, model: Any) -> Task | None:
        from sklearn.base import is_classifier, is_regressor

        estimator = model.sklearn_model()
        if estimator is None:
            return None
        if is_classifier(estimator):
            return "classification"
        return "regression" if is_regressor(estimator) else None

    def n_features(self, model: Any) -> int | None:
        schema = model.schema()
        return None if schema is None else len(schema.fields)

    def classes(self, model: Any) -> list[Any] | None:
        classes = getattr(model.sklearn_model(), "classes_", None)
        return None if classes is None else list(classes.tolist())

    def feature_names(self, model: Any) -> list[str] | None:
        schema = model.schema()
        return None if schema is None else list(schema.names)

    def save(self, tag: str, model: Any, *, labels: dict[str, str], metadata: dict[str, Any]) -> None:
        import bentoml

        bentoml.mlflow.import_model(tag, model.uri, labels=labels, metadata=metadata)

    def load(self, files: Mapping[str, bytes], options: Mapping[str, Any], *, task: Task, classes: Any) -> Any:
        mlflow = import_framework("mlflow.pyfunc", "mlflow", "an MLflow model")
        folder = tempfile.mkdtemp(prefix="canaryline-mlflow-")
        for name, data in files.items():
            path = Path(folder, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        pyfunc = mlflow.load_model(str(Path(folder, _FOLDER)))
        inputs = pyfunc.metadata.get_input_schema()
        return PyfuncModel(pyfunc, folder, len(inputs.inputs) if inputs is not None else None)
