"""pandas at the edges of a named-input version: its schema captured from the training frame, and the
frame a model is given, built from validated rows with the schema's dtypes.

The dtypes are the ones pandas itself gives such a column, so the model sees at serving time what it
saw in training: ``number`` float64, ``integer`` int64 (float64 when nullable, as pandas holds integers
with missing values), ``boolean`` bool (object when nullable), ``string`` object, and ``category`` a
``Categorical`` over the registered categories, so an encoder sees the same category codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from registry_client.domain.schema import Field, InputSchema, Kind
from registry_client.errors import SchemaError

__all__ = ["frame_of", "schema_from_frame"]


def schema_from_frame(frame: Any) -> InputSchema:
    """The schema of a training DataFrame: one field per column, nullable when the column holds a null."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise SchemaError(f"sample must be a pandas DataFrame, not a {type(frame).__name__}")
    if frame.empty:
        raise SchemaError("sample must hold at least one row, so each column's kind can be told")
    fields = []
    for name in frame.columns:
        if not isinstance(name, str):
            raise SchemaError(f"sample column {name!r} must be named by a string")
        column = frame[name]
        fields.append(_field(name, column, pd))
    return InputSchema(tuple(fields))


def _field(name: str, column: Any, pd: Any) -> Field:
    types = pd.api.types
    nullable = bool(column.isna().any())
    dtype = column.dtype
    kind: Kind
    if isinstance(dtype, pd.CategoricalDtype):
        categories = tuple(dtype.categories.tolist())
        return Field(name, "category", nullable, categories=categories)
    if types.is_bool_dtype(dtype):
        kind = "boolean"
    elif types.is_integer_dtype(dtype):
        kind = "integer"
    elif types.is_float_dtype(dtype):
        kind = "number"
    elif types.is_string_dtype(dtype) and all(isinstance(v, str) for v in column.dropna()):
        kind = "string"
    else:
        raise SchemaError(
            f"sample column {name!r} has dtype {dtype}, which is none of number, integer, boolean, string or "
            "category: convert it, or give the schema explicitly"
        )
    return Field(name, kind, nullable)


def frame_of(rows: Sequence[dict[str, Any]], schema: InputSchema) -> Any:
    """A DataFrame of validated ``rows`` (dicts holding every field), columns in the schema's order."""
    import pandas as pd

    data = {field.name: _column([row[field.name] for row in rows], field, pd) for field in schema.fields}
    return pd.DataFrame(data, columns=list(schema.names))


def _column(values: list[Any], field: Field, pd: Any) -> Any:
    kind = field.kind
    if kind == "number" or (kind == "integer" and field.nullable):
        return pd.Series([float("nan") if v is None else v for v in values], dtype="float64")
    if kind == "integer":
        return pd.Series(values, dtype="int64")
    if kind == "boolean":
        return pd.Series(values, dtype="object" if field.nullable else "bool")
    if kind == "category":
        return pd.Categorical(values, categories=list(field.categories or ()))
    return pd.Series(values, dtype="object")
