"""MLServer's PandasCodec on the Open Inference Protocol: one input tensor per DataFrame column.

A request whose ``parameters`` say ``"content_type": "pd"`` (as ``PandasCodec.encode_request`` writes),
or that holds several input tensors, is decoded into named columns: each tensor is a column named for
it, of shape ``[rows]`` or ``[rows, 1]``, in a numeric datatype, ``BOOL`` or ``BYTES`` (strings in
JSON). The values are then validated against the served version's schema like any named input
(:mod:`service.dataplane.named_inputs`); here only the tensors' own rules are checked. Pure, no I/O.
"""

from __future__ import annotations

from typing import Any

from registry_client.errors import BadRequestError, InputError
from service.dataplane.named_inputs import NamedInputs, parse_named

__all__ = ["DATATYPES", "PANDAS_CONTENT_TYPE", "decode_columns", "is_pandas_request"]

PANDAS_CONTENT_TYPE = "pd"
_NUMERIC = ("FP16", "FP32", "FP64", *(f"{s}INT{b}" for s in ("", "U") for b in (8, 16, 32, 64)))
DATATYPES = (*_NUMERIC, "BOOL", "BYTES")
_BINARY = "binary tensor data is not supported: send JSON data (tritonclient: binary_data=False)"
_COLUMNS = "a column's shape is [rows] or [rows, 1] (several input tensors are DataFrame columns, as PandasCodec sends)"


def is_pandas_request(parameters: dict[str, Any], inputs: list[Any]) -> bool:
    """Whether an infer request sends DataFrame columns rather than one matrix tensor."""
    return parameters.get("content_type") == PANDAS_CONTENT_TYPE or len(inputs) > 1


def decode_columns(inputs: list[Any], max_batch: int) -> NamedInputs:
    """The columns of ``inputs``, one tensor each; errors name the tensor, the field and the rule."""
    columns: dict[str, list[Any]] = {}
    for index, tensor in enumerate(inputs):
        name, values = _column(index, tensor)
        if name in columns:
            raise InputError(f"input {name!r} is sent twice: one tensor per column")
        columns[name] = values
    named = parse_named(columns, field="inputs", max_batch=max_batch)
    assert named is not None  # a dict of lists is always named inputs
    return named


def _column(index: int, tensor: Any) -> tuple[str, list[Any]]:
    if not isinstance(tensor, dict):
        raise InputError(f"field 'inputs[{index}]' must be a tensor object with name, shape, datatype and data")
    name = tensor.get("name")
    if not isinstance(name, str) or not name:
        raise InputError(f"field 'inputs[{index}].name' must be a non-empty string", code="missing_field")
    label = f"input {name!r}"
    parameters = tensor.get("parameters")
    if isinstance(parameters, dict) and "binary_data_size" in parameters:
        raise BadRequestError(_BINARY, code="binary_data")
    datatype = tensor.get("datatype")
    if datatype not in DATATYPES:
        raise InputError(
            f"{label} has datatype {datatype!r}; a DataFrame column is one of {', '.join(DATATYPES)}",
            code="wrong_datatype",
        )
    shape = tensor.get("shape")
    if type(shape) is not list or not 1 <= len(shape) <= 2 or any(type(d) is not int or d < 0 for d in shape):
        raise InputError(f"{label} has shape {shape!r}; {_COLUMNS}", code="wrong_shape")
    if len(shape) == 2 and shape[1] != 1:
        raise InputError(f"{label} has shape {shape}; {_COLUMNS}", code="wrong_shape")
    data = tensor.get("data")
    if type(data) is not list:
        raise InputError(f"{label} needs field 'data': a list of {shape[0]} values", code="missing_field")
    if data and all(type(v) is list and len(v) == 1 for v in data):
        data = [v[0] for v in data]  # nested as rows of one value each
    if len(data) != shape[0]:
        raise InputError(f"{label} has shape {shape} but data holds {len(data)} values", code="wrong_shape")
    return name, data
