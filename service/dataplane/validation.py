"""Parsing and validating a prediction request body: pure, no I/O, errors name the field and the rule."""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass
from typing import Any

import orjson

from registry_client.errors import BadRequestError, InputError
from service.dataplane.named_inputs import NamedInputs, parse_named

__all__ = [
    "ROUTING_KEY_MAX",
    "PredictRequest",
    "check_width",
    "load_json",
    "parse_predict",
    "parse_rows",
    "require_str",
    "routing_key",
]

ROUTING_KEY_MAX = 256


@dataclass(slots=True)
class PredictRequest:
    """One decoded prediction request: a numeric matrix in ``rows``, or named inputs in ``named``
    (``rows`` then empty), validated against the served version once it is routed."""

    model: str | None
    rows: list[list[float]]
    version: str | None = None
    routing_key: str | None = None
    named: NamedInputs | None = None


def load_json(body: bytes) -> Any:
    """Decode JSON; NaN and infinities are refused with the field that holds them named.

    orjson refuses what strict JSON refuses. Python's parser, tried next, accepts NaN and Infinity (left to
    the field validators, which name the field), but also integer literals no float64 holds and lone
    surrogates (``"\\ud800"``): those are refused here, naming the field, before they can overflow NumPy or
    fail an encode further on.
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        fallback = _lenient(body)
        if fallback is _INVALID:
            raise BadRequestError(f"body is not valid JSON: {exc}", code="invalid_json") from None
        _check_lenient(fallback)
        return fallback


_INVALID = object()
_FLOAT_MAX = sys.float_info.max
_SURROGATE = re.compile(r"[\ud800-\udfff]")  # in a decoded str, a surrogate is always a lone one


def _lenient(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _INVALID


def _check_lenient(payload: Any) -> None:
    """Refuse what only Python's parser lets through: integers beyond float64 and lone surrogates."""
    stack: list[tuple[str, Any]] = [("", payload)]
    while stack:  # iterative: as deep as the parser went, without recursion
        path, value = stack.pop()
        kind = type(value)
        if kind is dict:
            for key, item in value.items():
                if _SURROGATE.search(key):
                    raise InputError(f"field {path or 'body'!r} has a key that is not valid Unicode (a lone surrogate)")
                stack.append((f"{path}.{key}" if path else key, item))
        elif kind is list:
            stack.extend((f"{path}[{i}]", item) for i, item in enumerate(value))
        elif kind is str:
            if _SURROGATE.search(value):
                raise InputError(f"field {path or 'body'!r} must be valid Unicode text, not hold a lone surrogate")
        elif kind is int and not -_FLOAT_MAX <= value <= _FLOAT_MAX:
            raise InputError(f"field {path or 'body'!r} is out of range for a 64-bit float")


def require_str(payload: dict[str, Any], field: str, *, required: bool = False) -> str | None:
    value = payload.get(field)
    if value is None:
        if required:
            raise InputError(f"field {field!r} is required", code="missing_field")
        return None
    if not isinstance(value, str) or not value:
        raise InputError(f"field {field!r} must be a non-empty string")
    return value


def parse_predict(body: bytes, *, max_batch: int) -> PredictRequest:
    payload = load_json(body)
    if not isinstance(payload, dict):
        raise InputError("body must be a JSON object with field 'inputs'")
    value = payload.get("inputs")
    request = PredictRequest(
        model=require_str(payload, "model"),
        rows=[],
        version=require_str(payload, "version"),
        routing_key=routing_key(payload.get("routing_key"), "field 'routing_key'"),
    )
    # A matrix (rows that are lists) takes the path it always took; only anything else may be named.
    if type(value) is list and value and type(value[0]) is list:
        request.rows = parse_rows(value, field="inputs", max_batch=max_batch)
    else:
        request.named = parse_named(value, field="inputs", max_batch=max_batch)
        if request.named is None:
            request.rows = parse_rows(value, field="inputs", max_batch=max_batch)
    return request


def routing_key(value: Any, source: str) -> str | None:
    """A sticky routing key: None when absent, else a non-empty string of at most 256 characters.

    Every protocol reads its key with this rule, from its body (``source`` names the field) or from
    ``X-Routing-Key``, so one key routes the same whichever way it is sent.
    """
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > ROUTING_KEY_MAX:
        raise InputError(f"{source} must be a non-empty string of at most {ROUTING_KEY_MAX} characters")
    return value


def parse_rows(value: Any, *, field: str, max_batch: int) -> list[list[float]]:
    """A batch of rows: a non-empty list (at most ``max_batch``) of equally wide lists of finite numbers.

    Shared by every protocol that sends rows (``inputs`` natively, ``instances`` in KServe v1); errors
    name ``field`` and the element.
    """
    if value is None:
        raise InputError(f"field '{field}' is required: a list of rows, each a list of numbers", code="missing_field")
    if type(value) is not list:
        raise InputError(f"field '{field}' must be a list of rows, each a list of numbers")
    if not value:
        raise InputError(f"field '{field}' must hold at least one row", code="empty_batch")
    if len(value) > max_batch:
        raise InputError(
            f"field '{field}' holds {len(value)} rows, more than the limit of {max_batch} (CANARYLINE_MAX_BATCH)",
            code="batch_too_large",
        )
    width = len(value[0]) if type(value[0]) is list else 0
    for i, row in enumerate(value):
        if type(row) is not list or not row:
            raise InputError(f"field '{field}[{i}]' must be a list holding at least one number")
        if len(row) != width:
            raise InputError(
                f"field '{field}[{i}]' has {len(row)} values but {field}[0] has {width}: all rows need the same width"
            )
        _check_numbers(field, i, row)
    return value


def _check_numbers(field: str, i: int, row: list[Any]) -> None:
    """Every value is an int or a finite float (JSON booleans are not numbers here)."""
    for j, value in enumerate(row):
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):
                raise InputError(f"field '{field}[{i}][{j}]' must be a finite number, not {value}")
        elif kind is not int:
            raise InputError(f"field '{field}[{i}][{j}]' must be a number, not {_json_type(value)}")


def check_width(rows: list[list[float]], expected: int | None, *, model: str, version: str) -> None:
    """Rows must have exactly the model's feature count (known from the loaded model)."""
    if expected is not None and len(rows[0]) != expected:
        raise InputError(
            f"field 'inputs[0]' has {len(rows[0])} values but model {model!r} version {version!r} "
            f"expects {expected} features per row",
            code="wrong_width",
        )


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
