"""Parsing points in time as users write them: ISO 8601 text or epoch seconds."""

from __future__ import annotations

import pytest

from registry_client.domain.timestamps import parse_timestamp
from registry_client.errors import TimestampError


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, 1_700_000_000.0),
        (1_700_000_000.25, 1_700_000_000.25),
        ("1700000000.5", 1_700_000_000.5),
        (" 17 ", 17.0),
        ("2024-01-02T03:04:05Z", 1_704_164_645.0),
        ("2024-01-02T03:04:05+00:00", 1_704_164_645.0),
        ("2024-01-02T05:04:05+02:00", 1_704_164_645.0),
        ("2024-01-02T03:04:05", 1_704_164_645.0),
        ("2024-01-02", 1_704_153_600.0),
    ],
)
def test_iso_8601_and_epoch_seconds_give_epoch_seconds(value: object, expected: float) -> None:
    """Numbers, numeric text and ISO 8601 (UTC when it has no offset) all become epoch seconds."""
    assert parse_timestamp(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "must be ISO 8601 text or epoch seconds, not bool"),
        (None, "not NoneType"),
        ([1], "not list"),
        ("yesterday", "not 'yesterday'"),
        (float("nan"), "must be a finite number"),
        ("inf", "must be a finite number"),
        (10**400, "must be a finite number"),
    ],
)
def test_other_values_are_refused_saying_why(value: object, message: str) -> None:
    """Booleans, other types, free text, NaN, infinities and huge integers raise TimestampError."""
    with pytest.raises(TimestampError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse_timestamp(value)
