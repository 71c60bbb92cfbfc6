"""Request IDs: any text without control characters is the client's own; generated ones are UUIDv7."""

from __future__ import annotations

import re
import unicodedata
import uuid

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_client.domain.identifiers import (
    REQUEST_ID_RULE,
    accept_request_id,
    header_safe,
    new_id,
    request_id_from_header,
    request_id_header,
    valid_request_id,
)
from registry_client.errors import BadRequestError
from registry_client.settings import redact_url

RULE = re.escape(REQUEST_ID_RULE)
# Text the rule accepts: no control characters (Cc) and no surrogates (Cs), 1-256 characters.
allowed_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=256)


@pytest.mark.parametrize(
    "value", ["abc", "A.b_c:d-1", "order 77/line 2", "zählung-1", "x" * 200, "x" * 256, "<script>", "注文-7", "🙂"]
)
def test_valid_client_ids_are_honoured(value: str) -> None:
    """Spaces, slashes and non-ASCII letters are allowed: the ID is used exactly as given."""
    assert accept_request_id(value) == value


@pytest.mark.parametrize(
    "value", ["", "x" * 257, "nl-1\n", "a\nb", "tab\t", "nul\x00", "del\x7f", "nel\x85", "\ud800", "a\udc00b"]
)
def test_invalid_client_ids_are_refused(value: str) -> None:
    """Empty, over 256 characters, a control character anywhere (a trailing newline too) or a lone surrogate:
    a 400 that names the source and the rule."""
    with pytest.raises(BadRequestError, match=f"header X-Request-ID must be {RULE}") as info:
        accept_request_id(value)
    assert (info.value.status, info.value.code) == (400, "invalid_request_id")
    assert not valid_request_id(value)


@settings(deadline=None)
@given(allowed_text)
def test_any_text_without_control_characters_is_accepted_unchanged(value: str) -> None:
    """Every string of 1-256 characters without Cc and surrogates is a valid ID, kept exactly."""
    assert accept_request_id(value, source="field 'id'") == value


@settings(deadline=None)
@given(allowed_text.filter(lambda v: len(v) < 256), st.characters(categories=["Cc"]), st.integers(0, 255))
def test_a_control_character_anywhere_is_refused(value: str, control: str, at: int) -> None:
    """Inserting one control character at any position makes a valid ID invalid."""
    at %= len(value) + 1
    spoiled = value[:at] + control + value[at:]
    assert unicodedata.category(control) == "Cc" and len(spoiled) <= 256
    with pytest.raises(BadRequestError, match="field 'id' must be"):
        accept_request_id(spoiled, source="field 'id'")


def test_header_ids_are_read_as_utf8() -> None:
    """Header bytes (which Starlette hands over as latin-1) are UTF-8: the ID is the text the client meant;
    bytes that are not UTF-8 are a 400 naming the header."""
    assert request_id_from_header("zählung-1".encode().decode("latin-1")) == "zählung-1"
    assert request_id_from_header("req 1") == "req 1"
    with pytest.raises(BadRequestError, match="header X-Request-ID must be UTF-8 text of 1-256 characters"):
        request_id_from_header(b"\xff\xfe-1".decode("latin-1"))
    with pytest.raises(BadRequestError, match="no control characters"):
        request_id_from_header("a\x01b")


@pytest.mark.parametrize(
    ("value", "safe"),
    [("order-77", True), ("req 1", True), ("a/b?c=d", True), ("zählung-1", False), (" lead", False), ("trail ", False)],
)
def test_only_printable_ascii_ids_go_into_the_response_header(value: str, safe: bool) -> None:
    """Printable ASCII without surrounding spaces is echoed in X-Request-ID; anything else only in the body."""
    assert header_safe(value) is safe
    assert request_id_header(value) == ({"X-Request-ID": value} if safe else {})


def test_absent_ids_are_generated_uuid7_in_time_order() -> None:
    """A missing ID becomes a fresh UUIDv7; later ones sort after earlier ones."""
    ids = [accept_request_id(None) for _ in range(50)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert all(header_safe(i) for i in ids)
    assert len(set(ids)) == 50
    assert [uuid.UUID(i).bytes[:6] for i in ids] == sorted(uuid.UUID(i).bytes[:6] for i in ids)


def test_new_ids_are_unique() -> None:
    """Prediction IDs never repeat."""
    assert len({new_id() for _ in range(10_000)}) == 10_000


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:secret@cache:6379/0", "redis://cache:6379/0"),
        ("postgresql://canary:p%40ss@db.internal/canaryline", "postgresql://db.internal/canaryline"),
        ("sqlite:////srv/a@b/canaryline.db", "sqlite:////srv/a@b/canaryline.db"),
        ("redis://cache", "redis://cache"),
    ],
)
def test_store_urls_are_shown_without_credentials(url: str, shown: str) -> None:
    """Credentials in a store URL's authority never reach a message; an '@' in a path is not one."""
    assert redact_url(url) == shown
