"""Request IDs: the client's is honoured when it obeys the rule; generated ones are UUIDv7."""

from __future__ import annotations

import uuid

import pytest

from service.errors import BadRequestError
from service.ids import accept_request_id, new_id


@pytest.mark.parametrize("value", ["abc", "A.b_c:d-1", "x" * 128, "01HZX3"])
def test_valid_client_ids_are_honoured(value: str) -> None:
    """An ID of 1-128 characters from [A-Za-z0-9._:-] is used as given."""
    assert accept_request_id(value) == value


@pytest.mark.parametrize("value", ["", "x" * 129, "has space", "a/b", "ü", "a\nb", "<script>"])
def test_invalid_client_ids_are_refused(value: str) -> None:
    """Anything else is a 400 that names the header and the rule."""
    with pytest.raises(BadRequestError, match=r"header X-Request-ID must match \^\[A-Za-z0-9\._:-\]\{1,128\}\$"):
        accept_request_id(value)


def test_absent_ids_are_generated_uuid7_in_time_order() -> None:
    """A missing ID becomes a fresh UUIDv7; later ones sort after earlier ones."""
    ids = [accept_request_id(None) for _ in range(50)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert len(set(ids)) == 50
    assert [uuid.UUID(i).bytes[:6] for i in ids] == sorted(uuid.UUID(i).bytes[:6] for i in ids)


def test_new_ids_are_unique() -> None:
    """Prediction IDs never repeat."""
    assert len({new_id() for _ in range(10_000)}) == 10_000
