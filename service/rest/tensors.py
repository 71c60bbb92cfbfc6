"""Open Inference Protocol (v2) tensors: an infer body decoded into rows, outputs and metadata encoded.

Pure, no I/O. A model takes one input tensor of shape ``[rows, features]`` (data flat in row-major
order, or nested as rows) in a numeric datatype, or (a named-input version) one tensor per column as
MLServer's PandasCodec sends them (:mod:`service.rest.pandas_codec`), and answers ``predictions`` (``[rows]``) and, for
classifiers with ``predict_proba``, ``probabilities`` (``[rows, classes]``, FP64); MLServer's names for
them (``predict``, ``predict_proba``) may be requested too and are answered under the name asked for. Errors are the
gateway's own (:mod:`service.errors`), with messages that name the tensor, the field and the rule.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any

from registry_client.domain.identifiers import accept_request_id
from registry_client.errors import BadRequestError, InputError
from service.dataplane.model_pool import ServingVersion
from service.dataplane.named_inputs import NamedInputs
from service.dataplane.validation import _json_type, load_json
from service.rest.pandas_codec import PANDAS_CONTENT_TYPE, decode_columns, is_pandas_request

__all__ = [
    "BINARY_UNSUPPORTED",
    "INPUT_NAME",
    "MLSERVER_OUTPUTS",
    "NUMERIC_DATATYPES",
    "PREDICTIONS",
    "PROBABILITIES",
    "InferCall",
    "check_values",
    "datatype_of",
    "encode_outputs",
    "input_metadata",
    "output_metadata",
    "output_names",
    "parse_infer",
]

INPUT_NAME = "input-0"
PREDICTIONS = "predictions"
PROBABILITIES = "probabilities"
#: MLServer's scikit-learn, XGBoost and LightGBM runtimes name their outputs after the estimator's methods;
#: a client written against them requests these names and reads the outputs by them.
MLSERVER_OUTPUTS = {"predict": PREDICTIONS, "predict_proba": PROBABILITIES}

_FLOAT_MAX = {"FP16": 65504.0, "FP32": 3.4028234663852886e38, "FP64": sys.float_info.max}
_INT_RANGE = {
    **{f"INT{bits}": (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) for bits in (8, 16, 32, 64)},
    **{f"UINT{bits}": (0, (1 << bits) - 1) for bits in (8, 16, 32, 64)},
}
NUMERIC_DATATYPES = (*_FLOAT_MAX, *_INT_RANGE)
BINARY_UNSUPPORTED = "binary tensor data is not supported: send JSON data (tritonclient: binary_data=False)"


@dataclass(slots=True)
class InferCall:
    """A decoded infer request: its rows (or named columns), the client's ``id``, parameters and outputs."""

    rows: list[list[Any]]
    id: str | None
    parameters: dict[str, Any]
    outputs: list[str] | None  # None: every output
    named: NamedInputs | None = None


def parse_infer(body: bytes, *, max_batch: int) -> InferCall:
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise InputError("body must be a JSON object with field 'inputs'")
    request_id = payload.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise BadRequestError("field 'id' must be a string", code="invalid_request_id")
    parameters = payload.get("parameters")
    if parameters is None:  # absent, or null as kserve's datamodels send it
        parameters = {}
    if not isinstance(parameters, dict):
        raise InputError("field 'parameters' must be an object")
    inputs = payload.get("inputs")
    if inputs is None:
        raise InputError(f"field 'inputs' is required: a list holding one tensor, {INPUT_NAME!r}", code="missing_field")
    if isinstance(inputs, list) and inputs and is_pandas_request(parameters, inputs):
        named = decode_columns(inputs, max_batch)
    elif not isinstance(inputs, list) or len(inputs) != 1:
        held = f"holds {len(inputs)} tensors" if isinstance(inputs, list) else f"is {_json_type(inputs)}"
        raise InputError(f"field 'inputs' {held}; the model takes one input tensor, {INPUT_NAME!r}")
    else:
        named = None
    return InferCall(
        rows=_decode_input(inputs[0], max_batch) if named is None else [],
        named=named,
        id=None if request_id is None else accept_request_id(request_id, source="field 'id'"),
        parameters=parameters,
        outputs=_requested(payload.get("outputs")),
    )


def _decode_input(tensor: Any, max_batch: int) -> list[list[Any]]:
    if not isinstance(tensor, dict):
        raise InputError("field 'inputs[0]' must be a tensor object with name, shape, datatype and data")
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise InputError("field 'inputs[0].name' must be a non-empty string", code="missing_field")
    label = f"input {name!r}"
    parameters = tensor.get("parameters")
    if isinstance(parameters, dict) and "binary_data_size" in parameters:
        raise BadRequestError(BINARY_UNSUPPORTED, code="binary_data")
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in NUMERIC_DATATYPES:
        raise InputError(
            f"{label} has datatype {datatype!r}; supported datatypes: {', '.join(NUMERIC_DATATYPES)}",
            code="wrong_datatype",
        )
    n_rows, width = _shape(tensor.get("shape"), label, max_batch)
    data = tensor.get("data")
    if type(data) is not list:
        raise InputError(f"{label} needs field 'data': a list of {n_rows * width} numbers", code="missing_field")
    if data and type(data[0]) is list:
        return _nested(data, n_rows, width, datatype, label)
    if len(data) != n_rows * width:
        raise InputError(
            f"{label} has shape {[n_rows, width]} ({n_rows * width} values) but data holds {len(data)}",
            code="wrong_shape",
        )
    check_values(data, datatype, f"{label} data[")
    return [data[i * width : (i + 1) * width] for i in range(n_rows)]


def _shape(shape: Any, label: str, max_batch: int) -> tuple[int, int]:
    if type(shape) is not list or len(shape) != 2 or any(type(d) is not int or d < 0 for d in shape):
        raise InputError(
            f"{label} has shape {shape!r}; the model takes a 2-D shape [rows, features]", code="wrong_shape"
        )
    n_rows, width = shape
    if n_rows == 0:
        raise InputError(f"{label} has shape {shape}: it must hold at least one row", code="empty_batch")
    if width == 0:
        raise InputError(f"{label} has shape {shape}: rows must hold at least one feature", code="wrong_shape")
    if n_rows > max_batch:
        raise InputError(
            f"{label} holds {n_rows} rows, more than the limit of {max_batch} (CANARYLINE_MAX_BATCH)",
            code="batch_too_large",
        )
    return n_rows, width


def _nested(data: list[Any], n_rows: int, width: int, datatype: str, label: str) -> list[list[Any]]:
    """Data given as rows (the spec allows nesting that follows the shape)."""
    if len(data) != n_rows:
        raise InputError(f"{label} has shape {[n_rows, width]} but data holds {len(data)} rows", code="wrong_shape")
    for i, row in enumerate(data):
        if type(row) is not list or len(row) != width:
            held = f"{len(row)} values" if type(row) is list else _json_type(row)
            raise InputError(f"{label} has shape {[n_rows, width]} but data[{i}] holds {held}", code="wrong_shape")
        check_values(row, datatype, f"{label} data[{i}][")
    return data


def check_values(values: list[Any], datatype: str, where: str, close: str = "]") -> None:
    """Each value fits ``datatype``: finite numbers in range for FP*, integers in range for (U)INT*.

    A refusal names the value as ``where + index + close`` (``input 'x' data[1][3]``).
    """
    if datatype in _INT_RANGE:
        low, high = _INT_RANGE[datatype]
        for j, value in enumerate(values):
            if type(value) is not int:
                raise InputError(f"{where}{j}{close} must be an integer for {datatype}, not {_describe(value)}")
            if not low <= value <= high:
                raise InputError(f"{where}{j}{close} is {value}, out of range for {datatype}")
        return
    limit = _FLOAT_MAX[datatype]
    for j, value in enumerate(values):
        kind = type(value)
        if kind is not float and kind is not int:
            raise InputError(f"{where}{j}{close} must be a number, not {_describe(value)}")
        if not -limit <= value <= limit:  # False for NaN as well as for infinities and out-of-range values
            problem = "in range" if kind is int or math.isfinite(value) else "a finite number"
            raise InputError(f"{where}{j}{close} must be {problem} for {datatype}, not {value}")


def _describe(value: Any) -> str:
    return "a number with a fraction" if type(value) is float else _json_type(value)


def _requested(value: Any) -> list[str] | None:
    if value is None:
        return None
    if type(value) is not list:
        raise InputError("field 'outputs' must be a list of objects with a 'name'")
    names: list[str] = []
    for i, output in enumerate(value):
        name = output.get("name") if isinstance(output, dict) else None
        if not isinstance(name, str):
            raise InputError(f"field 'outputs[{i}].name' must be a string")
        names.append(name)
    return names or None


def datatype_of(values: list[Any]) -> str:
    """The v2 datatype that carries ``values`` (labels or predictions) as they come from the model."""
    kinds = {type(v) for v in values}
    if kinds <= {bool}:
        return "BOOL"
    if kinds <= {int}:
        return "INT64"
    if kinds <= {int, float}:
        return "FP64"
    return "BYTES"


def output_names(serving: ServingVersion) -> tuple[str, ...]:
    """The outputs a request may name: the gateway's, then MLServer's names for the same outputs."""
    names = (PREDICTIONS, PROBABILITIES) if serving.has_proba else (PREDICTIONS,)
    return (*names, *(alias for alias, name in MLSERVER_OUTPUTS.items() if name in names))


def _classes(serving: ServingVersion) -> list[Any] | None:
    classes = getattr(serving.model, "classes_", None)
    if classes is None:
        return serving.info.classes
    return list(classes.tolist())


def input_metadata(serving: ServingVersion) -> list[dict[str, Any]]:
    """One matrix tensor, or for a named-input version one tensor per field (PandasCodec's columns)."""
    if serving.schema is not None:
        return [
            {
                "name": field.name,
                "datatype": field.datatype,
                "shape": [-1, 1],
                "parameters": {"content_type": PANDAS_CONTENT_TYPE, "nullable": field.nullable},
            }
            for field in serving.schema.fields
        ]
    width = serving.n_features if serving.n_features is not None else -1
    return [{"name": INPUT_NAME, "datatype": "FP64", "shape": [-1, width]}]


def output_metadata(serving: ServingVersion) -> list[dict[str, Any]]:
    classes = _classes(serving) if serving.info.task == "classification" else None
    label_type = datatype_of(classes) if classes else ("FP64" if serving.info.task == "regression" else "BYTES")
    outputs: list[dict[str, Any]] = [{"name": PREDICTIONS, "datatype": label_type, "shape": [-1]}]
    if serving.has_proba:
        outputs.append({"name": PROBABILITIES, "datatype": "FP64", "shape": [-1, len(classes) if classes else -1]})
    return outputs


def encode_outputs(
    predictions: list[Any], probabilities: list[list[float]] | None, requested: list[str] | None
) -> list[dict[str, Any]]:
    """The response's output tensors, in the requested order (every output when none was requested)."""
    names = requested if requested is not None else [PREDICTIONS, PROBABILITIES]
    outputs: list[dict[str, Any]] = []
    for name in names:
        output = MLSERVER_OUTPUTS.get(name, name)
        if output == PREDICTIONS:
            data: list[Any] = predictions
            shape = [len(predictions)]
            datatype = datatype_of(predictions)
        elif output == PROBABILITIES and probabilities is not None:
            data = [p for row in probabilities for p in row]
            shape = [len(probabilities), len(probabilities[0]) if probabilities else 0]
            datatype = "FP64"
        else:
            continue
        outputs.append({"name": name, "datatype": datatype, "shape": shape, "data": data})
    return outputs
