"""Model files a training job wrote, read with each framework's own loader: what ``canaryline register`` takes.

- ``xgboost``: XGBoost's own JSON or UBJSON (``Booster.save_model("model.json")``), loaded as a Booster;
- ``lightgbm``: LightGBM's text format (``Booster.save_model("model.txt")``);
- ``onnx``: an ONNX graph (``.onnx``), checked with ``onnx.checker``;
- ``sklearn``: a joblib or pickle file, only with ``trust_pickle``: unpickling runs whatever code the file
  names, so it is refused unless the caller vouches for the job that wrote it.

A file that its framework cannot read as a model, or that is larger than the size limit, is refused before
anything is written (:class:`~registry_client.errors.ModelFileError`, :class:`PayloadTooLargeError`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from registry_client.errors import ModelFileError, PayloadTooLargeError
from registry_client.registry.adapter import import_framework

__all__ = ["FRAMEWORKS", "load_model_file"]

FRAMEWORKS = ("sklearn", "xgboost", "lightgbm", "onnx")


def _refused(path: Path, framework: str, exc: BaseException) -> ModelFileError:
    reason = " ".join(str(exc).split())[:300] or type(exc).__name__
    return ModelFileError(f"{path.name} is not a {framework} model file: {type(exc).__name__}: {reason}")


def _sklearn(path: Path, trust_pickle: bool) -> Any:
    if not trust_pickle:
        raise ModelFileError(
            f"{path.name}: a scikit-learn model file is a pickle, and unpickling runs any code it names; "
            "pass --trust-pickle only for a file written by a job you trust (or register an ONNX conversion)"
        )
    import joblib
    from sklearn.base import BaseEstimator

    try:
        model = joblib.load(path)
    except Exception as exc:  # unpickling fails in as many ways as a file can be wrong
        raise _refused(path, "sklearn", exc) from exc
    if not isinstance(model, BaseEstimator):
        raise ModelFileError(f"{path.name} holds a {type(model).__qualname__}, not a scikit-learn estimator")
    return model


def _xgboost(path: Path, model_class: str | None) -> Any:
    xgb = import_framework("xgboost", "xgboost", "an XGBoost model file")
    model = getattr(xgb, model_class or "Booster")()
    try:
        model.load_model(bytearray(path.read_bytes()))  # JSON or UBJSON, told apart by XGBoost from the bytes
    except Exception as exc:  # XGBoostError, and the UnicodeDecodeError of a message quoting the file's bytes
        raise _refused(path, "xgboost", exc) from exc
    return model


def _lightgbm(path: Path) -> Any:
    lgb = import_framework("lightgbm", "lightgbm", "a LightGBM model file")
    try:
        text = path.read_text(encoding="utf-8")
        return lgb.Booster(model_str=text)
    except Exception as exc:  # not UTF-8, LightGBMError, and whatever else its parser meets in a stranger's file
        raise _refused(path, "lightgbm", exc) from exc


def _onnx(path: Path) -> Any:
    onnx = import_framework("onnx", "onnx", "an ONNX model file")
    try:
        model = onnx.load_model_from_string(path.read_bytes())
        onnx.checker.check_model(model)
    except Exception as exc:  # protobuf's DecodeError and the checker's ValidationError alike
        raise _refused(path, "onnx", exc) from exc
    if not model.graph.node:
        raise ModelFileError(f"{path.name} is not an onnx model file: its graph has no nodes")
    return model


def load_model_file(
    path: Path,
    framework: str,
    *,
    trust_pickle: bool = False,
    max_bytes: int | None = None,
    model_class: str | None = None,
) -> Any:
    """The model in ``path``, read by ``framework``'s own loader; ``model_class`` names the XGBoost estimator
    class a BentoML folder was saved from (``XGBClassifier``), else a Booster is read."""
    if framework not in FRAMEWORKS:
        raise ModelFileError(f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a file")
    size = path.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise PayloadTooLargeError(
            f"{path.name} is {size} bytes, over the limit of {max_bytes} (CANARYLINE_MAX_MODEL_FILE_BYTES)"
        )
    if framework == "sklearn":
        return _sklearn(path, trust_pickle)
    if framework == "xgboost":
        return _xgboost(path, model_class)
    if framework == "lightgbm":
        return _lightgbm(path)
    return _onnx(path)
