"""Request parsing: every bad input gets a 4xx error naming the field and the rule."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.errors import BadRequestError, InputError
from service.validation import check_width, parse_predict


def parse(body: bytes, max_batch: int = 1000):
    return parse_predict(body, max_batch=max_batch)


def test_a_well_formed_request_parses() -> None:
    """Model, rows, version pin and routing key come through as given."""
    req = parse(b'{"model": "iris", "inputs": [[1, 2.5]], "version": "v2", "routing_key": "user-1"}')
    assert (req.model, req.rows, req.version, req.routing_key) == (
        "iris",
        [[1, 2.5]],
        "v2",
        "user-1",
    )


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (b"{not json", BadRequestError, "not valid JSON"),
        (b"", BadRequestError, "not valid JSON"),
        (b"[1, 2]", InputError, "body must be a JSON object"),
        (b'{"model": "iris"}', InputError, "field 'inputs' is required"),
        (b'{"inputs": {"a": 1}}', InputError, "field 'inputs' must be a list"),
        (b'{"inputs": []}', InputError, "at least one row"),
        (b'{"inputs": [[]]}', InputError, r"inputs\[0\]' must be a list holding at least one number"),
        (b'{"inputs": [1, 2]}', InputError, r"inputs\[0\]' must be a list"),
        (b'{"inputs": [[1], 2]}', InputError, r"inputs\[1\]' must be a list holding at least one number"),
        (b'{"inputs": null}', InputError, "field 'inputs' is required"),
        (
            b'{"inputs": [[1, 2], [1]]}',
            InputError,
            r"inputs\[1\]' has 1 values but inputs\[0\] has 2",
        ),
        (
            b'{"inputs": [[1, "2"]]}',
            InputError,
            r"inputs\[0\]\[1\]' must be a number, not a string",
        ),
        (
            b'{"inputs": [[1, true]]}',
            InputError,
            r"inputs\[0\]\[1\]' must be a number, not a boolean",
        ),
        (b'{"inputs": [[1, null]]}', InputError, r"inputs\[0\]\[1\]' must be a number, not null"),
        (
            b'{"inputs": [[NaN, 1]]}',
            InputError,
            r"inputs\[0\]\[0\]' must be a finite number, not nan",
        ),
        (
            b'{"inputs": [[1, Infinity]]}',
            InputError,
            r"inputs\[0\]\[1\]' must be a finite number, not inf",
        ),
        (
            b'{"inputs": [[1, -Infinity]]}',
            InputError,
            r"inputs\[0\]\[1\]' must be a finite number, not -inf",
        ),
        (
            b'{"inputs": [[1e400, 1]]}',
            InputError,
            r"inputs\[0\]\[0\]' must be a finite number, not inf",
        ),
        (b'{"model": 3, "inputs": [[1]]}', InputError, "field 'model' must be a non-empty string"),
        (b'{"model": "", "inputs": [[1]]}', InputError, "field 'model' must be a non-empty string"),
        (
            b'{"inputs": [[1]], "routing_key": 7}',
            InputError,
            "field 'routing_key' must be a non-empty string",
        ),
    ],
)
def test_bad_input_names_the_field_and_rule(body: bytes, error: type[Exception], message: str) -> None:
    """Malformed JSON is a 400; JSON that breaks a field's rule is a 422 naming that field."""
    with pytest.raises(error, match=message) as info:
        parse(body)
    assert info.value.status == (400 if error is BadRequestError else 422)


def test_batches_over_the_limit_are_refused() -> None:
    """More rows than CANARYLINE_MAX_BATCH is refused, naming the limit and the setting."""
    with pytest.raises(InputError, match=r"holds 3 rows, more than the limit of 2 \(CANARYLINE_MAX_BATCH\)"):
        parse(b'{"inputs": [[1], [2], [3]]}', max_batch=2)


def test_width_must_match_the_model() -> None:
    """Rows narrower or wider than the model's features are refused with both widths named."""
    with pytest.raises(InputError, match="has 3 values but model 'iris' version 'v1' expects 4 features"):
        check_width([[1, 2, 3]], 4, model="iris", version="v1")
    check_width([[1, 2, 3, 4]], 4, model="iris", version="v1")


@given(
    st.lists(
        st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=3, max_size=3),
        min_size=1,
        max_size=20,
    )
)
def test_any_finite_rectangular_batch_parses(rows: list[list[float]]) -> None:
    """Every non-empty rectangular batch of finite floats is accepted unchanged."""
    assert parse(orjson.dumps({"inputs": rows})).rows == rows
