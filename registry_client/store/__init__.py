"""Store backends selected by URL: ``sqlite:///PATH``, ``redis://HOST:PORT/DB`` or ``postgresql://HOST/DB``."""

from __future__ import annotations

from registry_client.settings import CanarylineSettings, redact_url
from registry_client.store.base import BoundedLog, EvaluationQueries, LogBounds, Store

__all__ = ["BoundedLog", "EvaluationQueries", "LogBounds", "Store", "open_store", "store_of"]


def store_of(settings: CanarylineSettings) -> Store:
    """The store the settings name, with their bounds (Redis stream length, index TTL) and timeout."""
    return open_store(
        settings.store_url(),
        timeout_s=settings.store_timeout_s,
        stream_maxlen=settings.redis_stream_maxlen,
        index_ttl_s=settings.redis_index_ttl_s,
    )


def open_store(
    url: str, *, timeout_s: float = 2.0, stream_maxlen: int = 1_000_000, index_ttl_s: int = 7 * 24 * 3600
) -> Store:
    """Open the store that ``url`` names; raises StoreError for an unknown scheme. The bounds apply to Redis
    (the SQLite store keeps everything, and waits up to 30 s for a lock); the timeout to Redis and PostgreSQL
    (connecting, and each statement)."""
    from registry_client.errors import StoreError

    if url.startswith("sqlite:///"):
        from registry_client.store.sqlite import SQLiteStore

        return SQLiteStore(url)
    if url.startswith(("redis://", "rediss://", "unix://")):
        from registry_client.store.redis import RedisStore

        return RedisStore(url, stream_maxlen=stream_maxlen, index_ttl_s=index_ttl_s, socket_timeout=timeout_s)
    if url.startswith(("postgresql://", "postgres://")):
        from registry_client.store.postgres import PostgresStore

        return PostgresStore(url, timeout_s=timeout_s)
    raise StoreError(
        f"store URL {redact_url(url)!r} is not supported: "
        "use sqlite:///PATH, redis://HOST:PORT/DB or postgresql://USER@HOST:PORT/DATABASE"
    )
