"""Model outputs: a NaN or infinite prediction or probability is refused, naming model, version and row."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_client.errors import InputError
from service.dataplane.outputs import check_finite

finite_probabilities = st.lists(
    st.lists(st.floats(min_value=0, max_value=1), min_size=3, max_size=3), min_size=1, max_size=20
)


@pytest.mark.parametrize(
    ("predictions", "probabilities", "row", "what"),
    [
        ([0, 2], [[0.9, 0.05, 0.05], [math.nan, math.nan, math.nan]], 1, "probability (nan)"),
        ([0], [[math.inf, 0.0, 0.0]], 0, "probability (inf)"),
        ([1.5, -math.inf], None, 1, "prediction (-inf)"),
        ([math.nan], None, 0, "prediction (nan)"),
    ],
)
def test_non_finite_outputs_are_refused(predictions, probabilities, row: int, what: str) -> None:
    """Any NaN or infinity is a 422 non_finite_output naming the model, the version, the row and the value."""
    message = f"model 'iris' version 'v2' returned a non-finite {what} for row {row}"
    with pytest.raises(InputError, match=re.escape(message)):
        check_finite("iris", "v2", predictions, probabilities)
    with pytest.raises(InputError) as info:
        check_finite("iris", "v2", predictions, probabilities)
    assert (info.value.status, info.value.code) == (422, "non_finite_output")


@settings(deadline=None)
@given(finite_probabilities, st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
def test_finite_outputs_pass(probabilities: list[list[float]], regression: list[float]) -> None:
    """Finite probabilities, finite regression values (however large) and labels of any type pass."""
    check_finite("iris", "v1", [0] * len(probabilities), probabilities)
    check_finite("diabetes", "v1", regression, None)
    check_finite("labels", "v1", ["setosa", True, 3], None)
    check_finite("diabetes", "v1", [1e308, 1e308, -1e308], None)  # their sum overflows; each is finite


@settings(deadline=None)
@given(finite_probabilities, st.data())
def test_one_non_finite_probability_anywhere_is_found(probabilities: list[list[float]], data: st.DataObject) -> None:
    """Whichever row and column holds the NaN or infinity, the refusal names that row."""
    row = data.draw(st.integers(0, len(probabilities) - 1))
    column = data.draw(st.integers(0, 2))
    probabilities[row][column] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf]))
    with pytest.raises(InputError, match=f"for row {row}:"):
        check_finite("iris", "v1", [0] * len(probabilities), probabilities)
