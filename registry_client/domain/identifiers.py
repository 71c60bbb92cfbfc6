"""Request and prediction identifiers: the one rule for a client's request ID, and time-ordered UUIDv7s.

A client's request ID (header ``X-Request-ID``, an OIP body's ``id``, the ``request_id`` of
``POST /feedback``) is any text of 1-256 characters with no control characters (Unicode category Cc,
so no newline, tab, NUL or DEL) and no lone surrogates. Spaces, slashes and non-ASCII letters are
allowed, as the Open Inference Protocol allows any string: the ID is stored and echoed in bodies
exactly. The whole value is checked (``fullmatch``): a ``$`` anchor would let a trailing newline
through, and the newline would then break the response header.

Only what goes into a response header must be header-safe: :func:`request_id_header` gives the
``X-Request-ID`` header for printable ASCII without leading or trailing space, and nothing otherwise
(the body still carries the ID). Header values arrive as bytes; they are read as UTF-8.
"""

from __future__ import annotations

import re

import uuid_utils

from registry_client.errors import BadRequestError

__all__ = [
    "ACTOR_PATTERN",
    "REQUEST_ID_RULE",
    "accept_request_id",
    "header_safe",
    "new_id",
    "request_id_from_header",
    "request_id_header",
    "valid_actor",
    "valid_request_id",
]

REQUEST_ID_RULE = "1-256 characters with no control characters (Unicode category Cc) and no lone surrogates"
# Cc is exactly U+0000-U+001F and U+007F-U+009F; a surrogate left in a str is always a lone one.
_REQUEST_ID_RE = re.compile(r"[^\x00-\x1f\x7f-\x9f\ud800-\udfff]{1,256}")
_HEADER_SAFE_RE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?")
#: Who changed a plan, as recorded in the audit (``X-Canaryline-Actor``): letters, digits and ``._@:+-``.
ACTOR_PATTERN = r"^[A-Za-z0-9._@:+-]{1,64}$"
_ACTOR_RE = re.compile(ACTOR_PATTERN)


def valid_actor(value: str) -> bool:
    """Whether ``value`` obeys the actor rule, as a whole (``$`` alone would let a trailing newline through)."""
    return _ACTOR_RE.fullmatch(value) is not None


def new_id() -> str:
    """A fresh UUIDv7: unique, and sortable by creation time."""
    return str(uuid_utils.uuid7())


def valid_request_id(value: str) -> bool:
    """True when the whole of ``value`` obeys the request-ID rule."""
    return _REQUEST_ID_RE.fullmatch(value) is not None


def accept_request_id(value: str | None, *, source: str = "header X-Request-ID") -> str:
    """The client's request ID when it obeys the rule, a new one when absent; else a 400 naming ``source``."""
    if value is None:
        return new_id()
    if not valid_request_id(value):
        raise BadRequestError(f"{source} must be {REQUEST_ID_RULE}", code="invalid_request_id")
    return value


def request_id_from_header(value: str | None) -> str:
    """:func:`accept_request_id` for the ``X-Request-ID`` header as Starlette gives it (bytes read as latin-1).

    The bytes are read again as UTF-8, so an ID sent in the header is the same text as one sent in a body.
    """
    if value is None:
        return new_id()
    try:
        text = value.encode("latin-1").decode("utf-8")
    except UnicodeError:  # not latin-1 text means it did not come from the wire; not UTF-8 is the client's
        raise BadRequestError(
            f"header X-Request-ID must be UTF-8 text of {REQUEST_ID_RULE}", code="invalid_request_id"
        ) from None
    return accept_request_id(text)


def header_safe(value: str) -> bool:
    """True when ``value`` can go into a response header as is: printable ASCII, no surrounding space."""
    return _HEADER_SAFE_RE.fullmatch(value) is not None


def request_id_header(request_id: str) -> dict[str, str]:
    """``{"X-Request-ID": request_id}`` when the ID is header-safe, else no header (the body carries it)."""
    return {"X-Request-ID": request_id} if header_safe(request_id) else {}
