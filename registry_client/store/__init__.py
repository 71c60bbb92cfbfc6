"""Store backends selected by URL: ``sqlite:///PATH`` or ``redis://HOST:PORT/DB``."""

from __future__ import annotations

from .base import Store

__all__ = ["Store", "open_store", "redact_url"]


def open_store(url: str) -> Store:
    """Open the store that ``url`` names; raises StoreError for an unknown scheme."""
    from ..errors import StoreError

    if url.startswith("sqlite:///"):
        from .sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from .redis import RedisStore

        return RedisStore(url)
    raise StoreError(f"store URL {url!r} is not supported: use sqlite:///PATH or redis://HOST:PORT/DB")


def redact_url(url: str) -> str:
    """``url`` without its credentials (``redis://:secret@host`` → ``redis://host``), for messages and logs."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    return f"{scheme}{sep}{authority.rpartition('@')[2]}{slash}{path}"
