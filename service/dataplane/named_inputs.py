"""Named inputs: records or columns in a request body, validated against the served version's schema.

``"inputs": [{"age": 31, "country": "DE"}, …]`` (records) or ``"inputs": {"age": [31, 45], …}``
(columns) are told from a numeric matrix by their shape alone (:func:`parse_named`, before routing:
which version serves is not known yet). Once routed, :func:`validate_named` checks every value against
that version's :class:`~registry_client.domain.schema.InputSchema` before any model sees it, and gives
the rows as dicts in the schema's field order. Refusals are 422s naming the row and the field
(``inputs[3].country`` for records, ``inputs.country[3]`` for columns) and the rule: a missing or
unknown field, a wrong kind, NaN or infinity, a null where the field is not nullable, a string over
the length limit, a category the version was not trained on. Pure, no I/O.

Each field's rule is made once per schema and a value's path is spelled out only when it is refused:
measured on this shared 2-core machine for the eight-field test schema, that took validation from
16–30 µs to 8–12 µs a row (a numeric row's check is 0.8–1.9 µs in the same runs).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from registry_client.domain.schema import Field, InputSchema
from registry_client.errors import InputError

__all__ = ["NamedInputs", "parse_named", "validate_named"]

_INT64 = (-(1 << 63), (1 << 63) - 1)


@dataclass(slots=True)
class NamedInputs:
    """Named inputs as sent: ``records`` (a list of objects) or ``columns`` (an object of lists)."""

    field: str  # the body's field that held them, for error paths
    n_rows: int
    records: list[Any] | None = None
    columns: dict[str, Any] | None = None


def parse_named(value: Any, *, field: str, max_batch: int) -> NamedInputs | None:
    """``value`` as named inputs, or None when it is not shaped as records or columns (a matrix, say)."""
    if type(value) is dict:
        return _columns(value, field, max_batch)
    if type(value) is not list or not value or type(value[0]) is not dict:
        return None
    _check_size(len(value), field, max_batch)
    for i, record in enumerate(value):
        if type(record) is not dict:
            raise InputError(f"field '{field}[{i}]' must be an object of named inputs, as {field}[0] is")
    return NamedInputs(field, len(value), records=value)


def _columns(value: dict[str, Any], field: str, max_batch: int) -> NamedInputs:
    if not value:
        raise InputError(f"field '{field}' must name at least one input column", code="empty_batch")
    lengths = set()
    for name, column in value.items():
        if type(column) is not list:
            raise InputError(f"field '{field}.{name}' must be a list: one value per row")
        lengths.add(len(column))
    if len(lengths) != 1:
        detail = ", ".join(f"{name}: {len(column)}" for name, column in value.items())
        raise InputError(f"field '{field}' has columns of different lengths ({detail}); each needs one value per row")
    n_rows = lengths.pop()
    if n_rows == 0:
        raise InputError(f"field '{field}' must hold at least one row", code="empty_batch")
    _check_size(n_rows, field, max_batch)
    return NamedInputs(field, n_rows, columns=value)


def _check_size(n_rows: int, field: str, max_batch: int) -> None:
    if n_rows > max_batch:
        raise InputError(
            f"field '{field}' holds {n_rows} rows, more than the limit of {max_batch} (CANARYLINE_MAX_BATCH)",
            code="batch_too_large",
        )


def validate_named(
    named: NamedInputs, schema: InputSchema, *, max_length: int, model: str, version: str
) -> list[dict[str, Any]]:
    """The rows, each a dict of every schema field in order, once every value obeys its field's rule."""
    checks = _checks(schema, max_length)
    where = f"model {model!r} version {version!r}"
    if named.columns is not None:
        columns = named.columns
        _check_names(set(columns), schema, lambda name: f"{named.field}.{name}", where)
        for f, rule, null in checks:
            for i, value in enumerate(columns[f.name]):
                problem = null if value is None else rule(value, type(value))
                if problem is not None:
                    raise _refusal(f"{named.field}.{f.name}[{i}]", i, problem, value)
        names = schema.names
        return [{name: columns[name][i] for name in names} for i in range(named.n_rows)]
    rows: list[dict[str, Any]] = []
    for i, record in enumerate(named.records or ()):
        if len(record) != len(checks) or any(f.name not in record for f, _, _ in checks):
            _check_names(set(record), schema, _record_path(named.field, i), where)
        for f, rule, null in checks:
            value = record[f.name]
            problem = null if value is None else rule(value, type(value))
            if problem is not None:  # the path is only spelled out for a refusal
                raise _refusal(f"{named.field}[{i}].{f.name}", i, problem, value)
        rows.append({f.name: record[f.name] for f, _, _ in checks})
    return rows


def _record_path(field: str, row: int) -> Callable[[str], str]:
    return lambda name: f"{field}[{row}].{name}"


def _check_names(sent: set[str], schema: InputSchema, path: Callable[[str], str], where: str) -> None:
    expected = schema.names
    for name in expected:
        if name not in sent:
            raise InputError(
                f"field {path(name)!r} is required: {where} takes {', '.join(expected)}", code="missing_field"
            )
    for name in sorted(sent - set(expected)):
        raise InputError(
            f"field {path(name)!r} is not an input of {where}, which takes {', '.join(expected)}",
            code="unknown_field",
        )


#: A kind's rule: None when the value (never null here) obeys it, else (what it must be, error code).
Rule = Callable[[Any, type], tuple[str, str] | None]


def _number(value: Any, t: type) -> tuple[str, str] | None:
    if t is float:
        return None if math.isfinite(value) else ("a finite number", "invalid_input")
    return None if t is int else ("a number", "invalid_input")


def _integer(value: Any, t: type) -> tuple[str, str] | None:
    if t is not int:
        return "an integer", "invalid_input"
    return None if _INT64[0] <= value <= _INT64[1] else ("an integer within int64", "invalid_input")


def _boolean(value: Any, t: type) -> tuple[str, str] | None:
    return None if t is bool else ("a boolean", "invalid_input")


def _rule(field: Field, max_length: int) -> Rule:
    if field.kind == "number":
        return _number
    if field.kind == "integer":
        return _integer
    if field.kind == "boolean":
        return _boolean
    if field.kind == "string":
        limit = min(field.max_length or max_length, max_length)

        def string(value: Any, t: type) -> tuple[str, str] | None:
            if t is not str:
                return "a string", "invalid_input"
            return None if len(value) <= limit else (f"a string of at most {limit} characters", "string_too_long")

        return string
    allowed = {(type(c), c) for c in field.categories or ()}  # typed: the category 1 is not true
    shown = ", ".join(map(repr, (field.categories or ())[:20]))

    def category(value: Any, t: type) -> tuple[str, str] | None:
        if t in (str, int, bool) and (t, value) in allowed:
            return None
        return f"one of the categories {shown}", "unknown_category"

    return category


@functools.lru_cache(maxsize=256)
def _checks(schema: InputSchema, max_length: int) -> tuple[tuple[Field, Rule, tuple[str, str] | None], ...]:
    """Each field's rules, made once per schema (a version's, so a handful are ever in use)."""
    return tuple((f, _rule(f, max_length), _null_rule(f)) for f in schema.fields)


def _null_rule(field: Field) -> tuple[str, str] | None:
    """What a null breaks: nothing for a nullable field."""
    if field.nullable:
        return None
    return f"{_article(field.kind)} (the field is not nullable)", "null_not_allowed"


def _refusal(path: str, row: int, problem: tuple[str, str], value: Any) -> InputError:
    return InputError(f"field {path!r} (row {row}) must be {problem[0]}, not {_show(value)}", code=problem[1])


def _article(kind: str) -> str:
    return {"integer": "an integer", "boolean": "a boolean", "string": "a string"}.get(kind, f"a {kind}")


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if type(value) is bool:
        return "a boolean"
    if type(value) is str:
        return f"a string of {len(value)} characters" if len(value) > 40 else f"the string {value!r}"
    if type(value) in (int, float):
        return str(value)
    if type(value) is list:
        return "a list"
    return "an object" if type(value) is dict else type(value).__name__
