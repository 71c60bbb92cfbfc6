"""Input schemas: their JSON round trip and rules, capture from a training DataFrame, and the frame a model gets."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from registry_client.domain.schema import DATATYPES, KINDS, Field, InputSchema
from registry_client.errors import SchemaError
from registry_client.registry.frames import frame_of, schema_from_frame
from tests.support.frames import BANDS, RECORD, iris_frame

_names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=20)


@st.composite
def fields(draw: st.DrawFn) -> Field:
    kind = draw(st.sampled_from(KINDS))
    categories = tuple(draw(st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True)))
    return Field(
        draw(_names),
        kind,
        draw(st.booleans()),
        categories=categories if kind == "category" else None,
        max_length=draw(st.none() | st.integers(1, 100)) if kind in ("string", "category") else None,
    )


@given(st.lists(fields(), min_size=1, max_size=6, unique_by=lambda f: f.name))
def test_a_schema_survives_its_json(found: list[Field]) -> None:
    """to_json is plain JSON (no None) and from_json reads back the same schema."""
    schema = InputSchema(tuple(found))
    value = schema.to_json()
    assert all(None not in f.values() for f in value["fields"])
    assert InputSchema.from_json(value) == schema
    assert InputSchema.from_json(value["fields"]) == schema  # the list of fields alone


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "at least one field"),
        ("age", "a list of fields"),
        ([{"name": "a", "kind": "number"}, {"name": "a", "kind": "integer"}], "names field 'a' twice"),
        ([{"name": "a", "kind": "decimal"}], "kind 'decimal'"),
        ([{"name": "", "kind": "number"}], "non-empty string"),
        ([{"name": 7, "kind": "number"}], "non-empty string"),
        ([{"name": "a", "kind": "category"}], "needs its non-empty list of 'categories'"),
        ([{"name": "a", "kind": "category", "categories": ["x", "x"]}], "lists a category twice"),
        ([{"name": "a", "kind": "category", "categories": [1.5]}], "strings, integers or booleans"),
        ([{"name": "a", "kind": "number", "categories": ["x"]}], "has no categories"),
        ([{"name": "a", "kind": "number", "max_length": 3}], "for strings only"),
        ([{"name": "a", "kind": "string", "max_length": 0}], "positive integer"),
        ([{"name": "a", "kind": "number", "nullable": "yes"}], "true or false"),
        ([{"name": "a", "kind": "number", "unit": "cm"}], "unknown keys ['unit']"),
        (["a"], "must be an object"),
    ],
)
def test_a_schema_that_breaks_a_rule_is_refused(value, message: str) -> None:
    """Every rule of a schema is checked when it is read, with the field and the rule named."""
    with pytest.raises(SchemaError, match=message.replace("[", r"\[").replace("(", r"\(")):
        InputSchema.from_json(value)


def test_the_schema_of_a_training_frame() -> None:
    """Each column's kind comes from its dtype, nullability from its nulls, categories from the categorical."""
    frame, _ = iris_frame()
    schema = schema_from_frame(frame)
    kinds = {f.name: (f.kind, f.nullable) for f in schema.fields}
    assert kinds == {
        "sepal_length": ("number", False),
        "sepal_width": ("number", True),
        "petal_length": ("number", False),
        "petal_width": ("number", False),
        "sepal_mm": ("integer", False),
        "wide": ("boolean", False),
        "petal_band": ("category", False),
        "note": ("string", False),
    }
    assert schema.names == tuple(frame.columns)
    assert next(f for f in schema.fields if f.name == "petal_band").categories == tuple(BANDS)
    assert [f.datatype for f in schema.fields] == ["FP64"] * 4 + ["INT64", "BOOL", "BYTES", "BYTES"]
    assert set(DATATYPES) == set(KINDS)


@pytest.mark.parametrize(
    ("sample", "message"),
    [
        (pd.DataFrame({"a": [1, "x"]}), "dtype object"),
        (pd.DataFrame({"when": pd.to_datetime(["2026-01-01"])}), "dtype datetime64"),
        (pd.DataFrame({"a": []}, dtype="float64"), "at least one row"),
        (pd.DataFrame({0: [1.0]}), "named by a string"),
        (np.zeros((2, 2)), "must be a pandas DataFrame"),
    ],
)
def test_a_frame_without_a_schema_is_refused(sample, message: str) -> None:
    """A column of no known kind, an empty frame, unnamed columns or no frame at all: refused, named."""
    with pytest.raises(SchemaError, match=message):
        schema_from_frame(sample)


def test_the_frame_a_model_gets_has_the_schemas_dtypes() -> None:
    """Rows become a DataFrame in the schema's column order with its dtypes; nulls become NaN or None."""
    frame, _ = iris_frame()
    schema = schema_from_frame(frame)
    rows = [RECORD, {**RECORD, "sepal_width": None, "petal_band": "long", "wide": False}]
    built = frame_of(rows, schema)
    assert list(built.columns) == list(schema.names)
    assert built["sepal_length"].dtype == np.float64 and np.isnan(built["sepal_width"][1])
    assert built["sepal_mm"].dtype == np.int64 and built["wide"].dtype == bool
    assert isinstance(built["petal_band"].dtype, pd.CategoricalDtype)
    assert list(built["petal_band"].cat.categories) == BANDS and list(built["petal_band"]) == ["short", "long"]
    assert list(built["note"]) == [RECORD["note"]] * 2


def test_nullable_integers_and_booleans_keep_their_nulls() -> None:
    """A nullable integer is float64 with NaN (as pandas holds one), a nullable boolean object with None."""
    schema = InputSchema((Field("n", "integer", nullable=True), Field("b", "boolean", nullable=True)))
    built = frame_of([{"n": 1, "b": True}, {"n": None, "b": None}], schema)
    assert built["n"].dtype == np.float64 and np.isnan(built["n"][1])
    assert built["b"].tolist() == [True, None]
