"""Tests of the joined row and of exploding a logged prediction into one row per input row."""

from __future__ import annotations

import dataclasses
from typing import Unpack

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_client.analysis.joined import JoinedRow, explode
from registry_client.domain.records import PredictionRecord
from registry_client.errors import CanarylineError, JoinError
from tests.support.records import RecordFields, make_record


def _record(rows: int = 3, **overrides: Unpack[RecordFields]) -> PredictionRecord:
    """A canary record of ``rows`` rows ``[i, i + 0.5]`` predicted ``label-i``, at a fixed stamp."""
    fields: RecordFields = {
        "prediction_id": "p-1",
        "request_id": "r-1",
        "ts": 1_700_000_000.25,
        "model_version": "v2",
        "route": "canary",
        "revision": 7,
        "inputs": [[float(i), float(i) + 0.5] for i in range(rows)],
        "predictions": [f"label-{i}" for i in range(rows)],
        "latency_ms": 12.5,
        "instance": "gw-1",
    }
    fields.update(overrides)
    return make_record(**fields)


def test_explode_makes_one_row_per_input_row() -> None:
    """A batch of three input rows becomes three joined rows carrying the record's stamp."""
    record = _record(3)
    rows = explode(record, None)
    assert [row.row_index for row in rows] == [0, 1, 2]
    assert [row.inputs for row in rows] == record.inputs
    assert [row.prediction for row in rows] == record.predictions
    for row in rows:
        assert (row.prediction_id, row.request_id, row.ts) == ("p-1", "r-1", 1_700_000_000.25)
        assert (row.model, row.model_version, row.route) == ("iris", "v2", "canary")
        assert (row.shadow, row.revision, row.latency_ms) == (False, 7, 12.5)


def test_explode_without_outcomes_leaves_every_row_unjoined() -> None:
    """outcomes=None means no row has an outcome."""
    rows = explode(_record(2), None)
    assert [row.outcome for row in rows] == [None, None]
    assert not any(row.joined for row in rows)


def test_explode_joins_outcomes_row_by_row() -> None:
    """Each row gets its own outcome, and a None outcome leaves just that row unjoined."""
    rows = explode(_record(3), ["a", None, 0])
    assert [row.outcome for row in rows] == ["a", None, 0]
    assert [row.joined for row in rows] == [True, False, True]


def test_explode_gives_each_row_its_probabilities() -> None:
    """A classifier's probabilities are split per row; a regressor's record has none on any row."""
    rows = explode(_record(2, probabilities=[[0.75, 0.25], [0.5, 0.5]]), None)
    assert [row.probabilities for row in rows] == [[0.75, 0.25], [0.5, 0.5]]
    assert [row.probabilities for row in explode(_record(2), None)] == [None, None]
    with pytest.raises(JoinError, match="2 input rows but 1 rows of probabilities"):
        explode(_record(2, probabilities=[[1.0, 0.0]]), None)


def test_explode_keeps_the_shadow_flag() -> None:
    """Rows of a shadow prediction are marked shadow."""
    assert all(row.shadow for row in explode(_record(2, shadow=True), None))


def test_explode_copies_the_inputs() -> None:
    """Mutating the record's input lists afterwards does not change the joined rows."""
    record = _record(1)
    row = explode(record, None)[0]
    record.inputs[0].append(99.0)
    assert row.inputs == [0.0, 0.5]


def test_explode_refuses_a_prediction_count_mismatch() -> None:
    """Fewer predictions than input rows raise JoinError naming model, version and request."""
    record = _record(3, predictions=["a"])
    with pytest.raises(JoinError, match=r"'iris'.*'v2'.*'r-1'.*3 input rows but 1 predictions"):
        explode(record, None)


def test_explode_refuses_an_outcome_count_mismatch() -> None:
    """An outcome list of the wrong length raises a 422 JoinError under the canaryline root."""
    with pytest.raises(JoinError) as caught:
        explode(_record(2), ["a"])
    assert isinstance(caught.value, CanarylineError)
    assert caught.value.status == 422
    assert "2 input rows but 1 outcomes" in caught.value.message


def test_joined_row_is_frozen_and_slotted() -> None:
    """A joined row cannot be changed and has no per-instance dict."""
    row = explode(_record(1), [1])[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.outcome = 2  # type: ignore[misc]
    assert not hasattr(row, "__dict__")


def test_to_dict_has_the_documented_fields_in_order() -> None:
    """to_dict() gives the fourteen documented fields in declaration order."""
    assert list(explode(_record(1), None)[0].to_dict()) == [
        "prediction_id",
        "request_id",
        "ts",
        "model",
        "model_version",
        "route",
        "shadow",
        "revision",
        "row_index",
        "inputs",
        "prediction",
        "outcome",
        "latency_ms",
        "probabilities",
    ]


labels = st.one_of(st.integers(-5, 5), st.text(max_size=3))


@settings(deadline=None)  # a loaded 2-core machine can take over hypothesis's 200 ms on one example
@given(st.data())
def test_explode_preserves_every_row(data: st.DataObject) -> None:
    """For any batch, rows come out in order with their own input, prediction and outcome."""
    size = data.draw(st.integers(0, 20))
    inputs = data.draw(st.lists(st.lists(st.floats(allow_nan=False), max_size=4), min_size=size, max_size=size))
    predictions = data.draw(st.lists(labels, min_size=size, max_size=size))
    outcomes = data.draw(st.none() | st.lists(st.none() | labels, min_size=size, max_size=size))
    rows = explode(_record(size, inputs=inputs, predictions=predictions), outcomes)
    assert len(rows) == size
    assert [row.row_index for row in rows] == list(range(size))
    assert [row.inputs for row in rows] == inputs
    assert [row.prediction for row in rows] == predictions
    expected = outcomes if outcomes is not None else [None] * size
    assert [row.outcome for row in rows] == expected
    assert [row.joined for row in rows] == [value is not None for value in expected]


def test_joined_row_equality_is_by_value() -> None:
    """Two rows built from the same record compare equal."""
    assert explode(_record(2), [1, 2]) == explode(_record(2), [1, 2])
    assert isinstance(explode(_record(1), None)[0], JoinedRow)
