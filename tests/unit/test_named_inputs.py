"""Named inputs: records and columns told from a matrix, and every value checked against the version's schema."""

from __future__ import annotations

import math

import pytest

from registry_client.domain.schema import Field, InputSchema
from registry_client.errors import InputError
from service.dataplane.named_inputs import parse_named, validate_named

SCHEMA = InputSchema(
    (
        Field("age", "integer"),
        Field("income", "number", nullable=True),
        Field("member", "boolean"),
        Field("country", "category", categories=("DE", "FR")),
        Field("note", "string", max_length=10),
        Field("tier", "category", categories=(1, 2)),
    )
)
ROW = {"age": 31, "income": 1200.5, "member": True, "country": "DE", "note": "hello", "tier": 1}


def valid(value, *, max_length: int = 100):
    named = parse_named(value, field="inputs", max_batch=10)
    assert named is not None
    return validate_named(named, SCHEMA, max_length=max_length, model="m", version="v1")


def refusal(value, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        valid(value, **kwargs)
    return info.value


def test_a_matrix_is_not_named_inputs() -> None:
    """Rows of numbers, an empty list and non-lists are left to the matrix rules."""
    for value in ([[1.0, 2.0]], [], None, "x", [1, 2]):
        assert parse_named(value, field="inputs", max_batch=10) is None


def test_records_and_columns_give_the_same_rows_in_schema_order() -> None:
    """Both forms give one dict per row holding every field, in the schema's order."""
    other = {**ROW, "age": 45, "income": None, "country": "FR", "member": False}
    records = valid([dict(reversed(ROW.items())), other])
    columns = valid({name: [ROW[name], other[name]] for name in reversed(SCHEMA.names)})
    assert records == columns == [ROW, other]
    assert list(records[0]) == list(SCHEMA.names)


@pytest.mark.parametrize(
    ("change", "code", "message"),
    [
        ({"age": "31"}, "invalid_input", "field 'inputs[1].age' (row 1) must be an integer, not the string '31'"),
        ({"age": 31.0}, "invalid_input", "'inputs[1].age' (row 1) must be an integer, not 31.0"),
        ({"age": True}, "invalid_input", "must be an integer, not a boolean"),
        ({"age": 1 << 63}, "invalid_input", "within int64"),
        ({"income": math.nan}, "invalid_input", "'inputs[1].income' (row 1) must be a finite number, not nan"),
        ({"income": math.inf}, "invalid_input", "must be a finite number, not inf"),
        ({"income": "12"}, "invalid_input", "must be a number, not the string '12'"),
        ({"income": False}, "invalid_input", "must be a number, not a boolean"),
        ({"member": 1}, "invalid_input", "'inputs[1].member' (row 1) must be a boolean, not 1"),
        ({"member": None}, "null_not_allowed", "must be a boolean (the field is not nullable), not null"),
        ({"country": "UK"}, "unknown_category", "must be one of the categories 'DE', 'FR', not the string 'UK'"),
        ({"country": ["DE"]}, "unknown_category", "not a list"),
        ({"tier": True}, "unknown_category", "categories 1, 2, not a boolean"),
        ({"tier": "1"}, "unknown_category", "not the string '1'"),
        ({"note": "x" * 11}, "string_too_long", "'inputs[1].note' (row 1) must be a string of at most 10 characters"),
        ({"note": 5}, "invalid_input", "must be a string, not 5"),
        ({"note": {"a": 1}}, "invalid_input", "must be a string, not an object"),
    ],
)
def test_a_bad_value_names_its_row_field_and_rule(change: dict, code: str, message: str) -> None:
    """Each rule of each kind refuses with a 422 naming the row and the field, in records and in columns."""
    bad = {**ROW, **change}
    error = refusal([ROW, bad])
    assert (error.status, error.code) == (422, code)
    assert message in error.message, error.message
    field = next(iter(change))
    in_columns = refusal({name: [ROW[name], bad[name]] for name in SCHEMA.names})
    assert f"field 'inputs.{field}[1]' (row 1)" in in_columns.message and in_columns.code == code


def test_the_gateways_string_limit_caps_every_field() -> None:
    """A field's own max_length only lowers the gateway's limit, never raises it."""
    error = refusal([{**ROW, "note": "x" * 6}], max_length=5)
    assert error.code == "string_too_long" and "at most 5 characters" in error.message


def test_missing_and_unknown_fields_are_named() -> None:
    """A missing field is missing_field, an extra one unknown_field, each naming the row or column."""
    row = dict(ROW)
    del row["country"]
    error = refusal([ROW, row])
    assert error.code == "missing_field" and "field 'inputs[1].country' is required" in error.message
    assert "takes age, income, member, country, note, tier" in error.message
    error = refusal([{**ROW, "colour": "red"}])
    assert error.code == "unknown_field" and "field 'inputs[0].colour' is not an input" in error.message
    error = refusal({name: [ROW[name]] for name in SCHEMA.names if name != "age"})
    assert error.code == "missing_field" and "'inputs.age'" in error.message


@pytest.mark.parametrize(
    ("value", "code", "message"),
    [
        ([ROW, [1, 2]], "invalid_input", "field 'inputs[1]' must be an object of named inputs"),
        ({"age": [1], "income": [1.0, 2.0]}, "invalid_input", "columns of different lengths (age: 1, income: 2)"),
        ({"age": 31}, "invalid_input", "field 'inputs.age' must be a list"),
        ({}, "empty_batch", "at least one input column"),
        ({"age": []}, "empty_batch", "at least one row"),
        ([ROW] * 11, "batch_too_large", "11 rows, more than the limit of 10"),
        ({"age": [1] * 11}, "batch_too_large", "11 rows"),
    ],
)
def test_malformed_records_and_columns_are_refused(value, code: str, message: str) -> None:
    """Shapes that are neither records nor columns, or too many rows, are refused before any schema."""
    with pytest.raises(InputError) as info:
        parse_named(value, field="inputs", max_batch=10)
    assert info.value.code == code and message in info.value.message, info.value.message
