"""Request parsing: every bad input gets a 4xx error naming the field and the rule."""

from __future__ import annotations

import re

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_client.errors import BadRequestError, InputError
from service.dataplane.validation import check_width, load_json, parse_predict


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
        (b'{"inputs": {"a": 1}}', InputError, "field 'inputs.a' must be a list"),
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


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"inputs": [[1, 2, ' + b"1" * 400 + b"]]}", "inputs[0][2]"),
        (b'{"inputs": [[1], [-' + b"9" * 400 + b"]]}", "inputs[1][0]"),
        (b'{"inputs": [[1]], "pad": {"deep": [0, ' + b"2" * 310 + b"]}}", "pad.deep[1]"),
    ],
)
def test_integers_too_large_for_a_float_are_refused(body: bytes, field: str) -> None:
    """An integer literal no float64 holds (which only Python's lenient parser accepts) is a 422 naming it."""
    with pytest.raises(InputError, match=re.escape(f"field '{field}' is out of range for a 64-bit float")) as info:
        parse(body)
    assert info.value.status == 422


@settings(deadline=None)
@given(st.integers(min_value=2**1024, max_value=10**400), st.booleans(), st.integers(0, 2))
def test_any_integer_beyond_float64_is_refused_wherever_it_is(magnitude: int, negative: bool, at: int) -> None:
    """Wherever an integer of 2**1024 or more (either sign) sits in a row, the refusal names that element."""
    row = [1, 2, 3]
    row[at] = -magnitude if negative else magnitude
    body = b'{"inputs": [' + b"[" + b", ".join(str(v).encode() for v in row) + b"]]}"
    with pytest.raises(InputError, match=re.escape(f"field 'inputs[0][{at}]' is out of range for a 64-bit float")):
        parse(body)


@settings(deadline=None)
@given(st.integers(min_value=-(2**1000), max_value=2**1000))
def test_integers_a_float_holds_are_accepted(value: int) -> None:
    """Integers up to 2**1000 (beyond 64-bit integers, within float64) are accepted as the number they are."""
    body = b'{"inputs": [[' + str(value).encode() + b"]]}"
    [[parsed]] = parse(body).rows
    assert float(parsed) == float(value)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"inputs": [[1]], "routing_key": "\\ud800"}', "routing_key"),
        (b'{"inputs": [[1]], "routing_key": "user-\\udc00"}', "routing_key"),
        (b'{"inputs": [[1]], "model": "\\ud83d"}', "model"),
        (b'{"inputs": [[1]], "version": "v\\ud800"}', "version"),
        (b'{"inputs": [[1]], "routing_key": "\xed\xa0\x80"}', "routing_key"),  # a surrogate in UTF-8 bytes
        (b'{"inputs": [[1]], "parameters": {"\\ud800": 1}}', "parameters"),
    ],
)
def test_lone_surrogates_are_refused_naming_the_field(body: bytes, field: str) -> None:
    """A string that is not valid Unicode (a lone surrogate) is a 422 naming the field, wherever it is."""
    with pytest.raises(InputError, match=re.escape(f"field '{field}'") + ".* valid Unicode") as info:
        parse(body)
    assert info.value.status == 422


def test_surrogate_pairs_are_ordinary_text() -> None:
    """An escaped surrogate pair is one character (here an emoji), not a lone surrogate."""
    assert load_json(b'{"routing_key": "\\ud83d\\ude42", "n": NaN}')["routing_key"] == "\U0001f642"
