"""Request bodies by Content-Encoding: identity and gzip, decompressed with a bound (no decompression bomb)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_client.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError
from service.rest.content_encoding import body_decoder


def decode(encoding: str | None, body: bytes, limit: int, chunk: int = 1000) -> bytes:
    decoder = body_decoder(encoding, limit)
    for start in range(0, len(body), chunk):
        decoder.feed(body[start : start + chunk])
    return decoder.finish()


@settings(deadline=None)
@given(st.binary(max_size=5000), st.integers(1, 700), st.sampled_from(["gzip", "GZIP", "x-gzip", "identity, gzip"]))
def test_gzip_bodies_decode_to_what_was_compressed(body: bytes, chunk: int, encoding: str) -> None:
    """Any body within the limit, compressed and sent in chunks of any size, decodes to itself."""
    assert decode(encoding, gzip.compress(body), limit=5000, chunk=chunk) == body


@settings(deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=2, max_size=4))
def test_concatenated_gzip_members_decode_as_one_body(parts: list[bytes]) -> None:
    """Several gzip members one after another (RFC 1952 allows it) are one body, as gunzip reads them."""
    assert decode("gzip", b"".join(gzip.compress(p) for p in parts), limit=5000, chunk=97) == b"".join(parts)


@pytest.mark.parametrize("encoding", [None, "", "identity", "Identity"])
def test_identity_bodies_pass_through(encoding: str | None) -> None:
    """Without an encoding (or identity) the body is taken as sent."""
    assert decode(encoding, b'{"inputs": [[1]]}', limit=100, chunk=3) == b'{"inputs": [[1]]}'


def test_a_body_over_the_limit_once_decompressed_is_413() -> None:
    """A small gzip of a body one byte over the limit is refused, naming the limit and the setting."""
    with pytest.raises(PayloadTooLargeError, match=r"over the limit of 4096 bytes once decompressed") as info:
        decode("gzip", gzip.compress(b"x" * 4097), limit=4096)
    assert "CANARYLINE_MAX_BODY_BYTES" in info.value.message and info.value.status == 413
    assert decode("gzip", gzip.compress(b"x" * 4096), limit=4096) == b"x" * 4096


def test_a_decompression_bomb_never_allocates_more_than_the_limit() -> None:
    """64 KiB of gzip that would inflate to 64 MiB is refused with at most the limit (plus one input chunk
    and zlib's own state) allocated on the way."""
    limit = 64 * 1024
    bomb = gzip.compress(b"\0" * (64 * 1024 * 1024), compresslevel=9)
    assert len(bomb) <= limit
    tracemalloc.start()
    try:
        with pytest.raises(PayloadTooLargeError):
            decode("gzip", bomb, limit=limit, chunk=16 * 1024)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 4 * limit, f"peak allocation {peak} bytes"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"not gzip at all", "body is not valid gzip"),
        (gzip.compress(b'{"inputs": [[1]]}', mtime=0)[:-6], "body ends inside its gzip data"),
        (gzip.compress(b"{}", mtime=0) + b"trailing junk", "body is not valid gzip"),
        (zlib.compress(b"{}"), "body is not valid gzip"),  # zlib framing, not gzip
    ],
)
def test_corrupt_gzip_is_400(body: bytes, message: str) -> None:
    """Bytes that are not gzip, truncated gzip or garbage after it are a 400 naming the encoding."""
    with pytest.raises(BadRequestError, match=message) as info:
        decode("gzip", body, limit=5000)
    assert (info.value.status, info.value.code) == (400, "invalid_encoding")


@pytest.mark.parametrize("encoding", ["br", "deflate", "compress", "gzip, br", "gzip, gzip"])
def test_unknown_encodings_are_415(encoding: str) -> None:
    """Any other Content-Encoding is a 415 naming it and what is accepted."""
    with pytest.raises(UnsupportedMediaTypeError, match=r"Content-Encoding .* is not supported: send gzip or identity"):
        body_decoder(encoding, 100)
