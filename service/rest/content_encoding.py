"""Request bodies by ``Content-Encoding``: identity, or gzip decompressed with a bound.

A gzip body is inflated incrementally, chunk by chunk as it arrives, and every ``decompress`` call is
capped (``max_length``) at what is left under the limit plus one byte. So a decompression bomb (a few
KiB that inflate to GiBs) is refused with 413 having allocated at most the limit, plus one input chunk
and zlib's own window, never the whole inflated body. Corrupt or truncated gzip is a 400; any other
encoding is a 415. Pure, no I/O: :func:`service.rest.app.read_body` feeds it the chunks.
"""

from __future__ import annotations

import zlib
from typing import Protocol

from registry_client.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

__all__ = ["BodyDecoder", "body_decoder"]

_GZIP = 16 + zlib.MAX_WBITS  # zlib's wbits for the gzip container (header and CRC checked)
_GZIP_NAMES = {"gzip", "x-gzip"}  # RFC 9110 §8.4.1.3: x-gzip is to be read as gzip


class BodyDecoder(Protocol):
    def feed(self, chunk: bytes) -> None: ...

    def finish(self) -> bytes: ...


def body_decoder(content_encoding: str | None, limit: int) -> BodyDecoder:
    """The decoder for a ``Content-Encoding`` header value; a 415 for anything but gzip and identity."""
    codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    if not codings:
        return _Identity()
    if len(codings) == 1 and codings[0] in _GZIP_NAMES:
        return _Gunzip(limit)
    raise UnsupportedMediaTypeError(f"Content-Encoding {content_encoding!r} is not supported: send gzip or identity")


class _Identity:
    def __init__(self) -> None:
        self._chunks: list[bytes] = []

    def feed(self, chunk: bytes) -> None:
        self._chunks.append(chunk)

    def finish(self) -> bytes:
        return b"".join(self._chunks)


class _Gunzip:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._size = 0
        self._parts: list[bytes] = []
        self._zlib = zlib.decompressobj(_GZIP)
        self._fed = False

    def feed(self, chunk: bytes) -> None:
        data = chunk
        while data:
            self._fed = True
            if self._zlib.eof:  # another gzip member follows (RFC 1952 allows several, gunzip reads them all)
                self._zlib = zlib.decompressobj(_GZIP)
            try:
                out = self._zlib.decompress(data, self._limit - self._size + 1)
            except zlib.error as exc:
                raise BadRequestError(f"body is not valid gzip: {exc}", code="invalid_encoding") from None
            self._size += len(out)
            if self._size > self._limit:
                raise PayloadTooLargeError(
                    f"body is over the limit of {self._limit} bytes once decompressed (CANARYLINE_MAX_BODY_BYTES)"
                )
            self._parts.append(out)
            # Input left over: what max_length held back (only when the limit is hit, raised above) or the
            # start of the next member.
            data = self._zlib.unused_data if self._zlib.eof else self._zlib.unconsumed_tail

    def finish(self) -> bytes:
        if self._fed and not self._zlib.eof:
            raise BadRequestError("body ends inside its gzip data: it is truncated", code="invalid_encoding")
        return b"".join(self._parts)
