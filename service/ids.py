"""Request and prediction identifiers: the client's X-Request-ID rule, and time-ordered UUIDv7s."""

from __future__ import annotations

import re

import uuid_utils

from .errors import BadRequestError

__all__ = ["REQUEST_ID_PATTERN", "accept_request_id", "new_id"]

REQUEST_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,128}$"
_REQUEST_ID_RE = re.compile(REQUEST_ID_PATTERN)


def new_id() -> str:
    """A fresh UUIDv7: unique, and sortable by creation time."""
    return str(uuid_utils.uuid7())


def accept_request_id(value: str | None, *, source: str = "header X-Request-ID") -> str:
    """The client's request ID when it obeys the rule, a new one when absent; else BadRequestError."""
    if value is None:
        return new_id()
    if _REQUEST_ID_RE.match(value) is None:
        raise BadRequestError(f"{source} must match {REQUEST_ID_PATTERN}", code="invalid_request_id")
    return value
