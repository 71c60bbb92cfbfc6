"""ONNX models through BentoML's ``bentoml.onnx``, run with onnxruntime (extra ``canaryline[onnx]``).

A model converted from scikit-learn (skl2onnx) has either one input (a ``[rows, features]`` tensor, fed
the numeric matrix) or one input per column (a ``[rows, 1]`` tensor named for the column, as skl2onnx
converts a ColumnTransformer pipeline), each fed the DataFrame's column in the input's own type. Its
first output is the label (or a regressor's value), its second the class probabilities, as an array
or as skl2onnx's ZipMap (a list of ``{class: probability}``). The task and classes are read from the
graph's classifier nodes (``classlabels_*``); a graph without them needs ``task=`` at registration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from registry_client.registry.adapter import Task, import_framework, type_module

__all__ = ["OnnxAdapter", "OnnxModel"]

_LABEL_ATTRIBUTES = ("classlabels_ints", "classlabels_int64s", "classlabels_strings")
_NUMPY_TYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


class OnnxModel:
    """An onnxruntime session as a scikit-learn-like model: ``predict`` and, for classifiers, ``predict_proba``."""

    def __init__(self, session: Any, task: Task, classes: list[Any] | None) -> None:
        self.session = session
        self.task = task
        self.classes_ = np.asarray(classes) if classes is not None else None
        self._inputs = [(i.name, _NUMPY_TYPES.get(i.type, np.float32)) for i in session.get_inputs()]
        if len(self._inputs) == 1:
            shape = session.get_inputs()[0].shape
            self.n_features_in_ = shape[1] if len(shape) == 2 and isinstance(shape[1], int) else None
        else:
            self.n_features_in_ = len(self._inputs)
        if task == "classification" and len(session.get_outputs()) > 1:
            self.predict_proba = self._predict_proba

    def _feed(self, features: Any) -> dict[str, Any]:
        columns = getattr(features, "columns", None)
        if columns is not None and (len(self._inputs) > 1 or self._inputs[0][0] in columns):
            feed = {}
            for name, dtype in self._inputs:
                values = features[name].to_numpy(dtype=object if dtype is np.object_ else None)
                if dtype is np.object_:
                    values = np.asarray([str(v) for v in values], dtype=object)
                feed[name] = values.astype(dtype).reshape(-1, 1)
            return feed
        name, dtype = self._inputs[0]
        return {name: np.asarray(features, dtype=dtype)}

    def predict(self, features: Any) -> Any:
        first = np.asarray(self.session.run(None, self._feed(features))[0])
        return first.ravel().astype(np.float64) if self.task == "regression" else first.ravel()

    def _predict_proba(self, features: Any) -> Any:
        probabilities = self.session.run(None, self._feed(features))[1]
        if isinstance(probabilities, list):  # ZipMap: one {class: probability} per row
            order = list(self.classes_.tolist()) if self.classes_ is not None else list(probabilities[0])
            return np.asarray([[row[c] for c in order] for row in probabilities], dtype=np.float64)
        return np.asarray(probabilities, dtype=np.float64)


def _labels(model: Any) -> list[Any] | None:
    for node in model.graph.node:
        for attribute in node.attribute:
            if attribute.name in _LABEL_ATTRIBUTES:
                values = attribute.strings or attribute.ints
                return [v.decode() if isinstance(v, bytes) else int(v) for v in values]
    return None


class OnnxAdapter:
    module = "bentoml.onnx"
    framework = "onnx"
    extra: str | None = "onnx"
    filename = "saved_model.onnx"  # bentoml.onnx's file name

    def accepts(self, model: Any) -> bool:
        return type_module(model) == "onnx" and type(model).__name__ == "ModelProto"

    def task(self, model: Any) -> Task | None:
        return "classification" if _labels(model) is not None else None

    def n_features(self, model: Any) -> int | None:
        inputs = list(model.graph.input)
        if len(inputs) > 1:
            return len(inputs)
        dims = inputs[0].type.tensor_type.shape.dim
        return int(dims[1].dim_value) if len(dims) == 2 and dims[1].dim_value > 0 else None

    def classes(self, model: Any) -> list[Any] | None:
        return _labels(model)

    def feature_names(self, model: Any) -> list[str] | None:
        inputs = list(model.graph.input)
        return [i.name for i in inputs] if len(inputs) > 1 else None

    def save(self, tag: str, model: Any, *, labels: dict[str, str], metadata: dict[str, Any]) -> None:
        """Through ``bentoml.onnx``, which BentoML 1.4 deprecates (it warns on import) but still ships and
        loads: its layout is the one ``bentoml.onnx.load_model`` and existing Bentos read."""
        import warnings

        import bentoml

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="`bentoml.onnx` is deprecated")
            bentoml.onnx.save_model(tag, model, labels=labels, metadata=metadata)

    def load(self, files: Mapping[str, bytes], options: Mapping[str, Any], *, task: Task, classes: Any) -> Any:
        ort = import_framework("onnxruntime", "onnx", "an ONNX model")
        session = ort.InferenceSession(files[self.filename], providers=["CPUExecutionProvider"])
        return OnnxModel(session, task, classes)
