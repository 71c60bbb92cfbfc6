"""Connections to PostgreSQL: the pool every store call borrows from, and errors mapped at the boundary.

Every connection is in autocommit mode (each call opens the transaction it needs), encodes and decodes
``jsonb`` with orjson, and carries ``statement_timeout`` = the store timeout, so a stalled database costs a
call at most one timeout. A connection is checked on checkout (one round trip, about 50 µs here), so the
first call after a server restart gets a fresh connection instead of failing on a dead one.

Errors: failing to connect, a lost connection, a statement timeout or an empty pool after ``timeout_s``
(all :class:`psycopg.OperationalError`) are :class:`StoreUnavailableError` (retry later); any other
database error is :class:`StoreError`. Messages name the server without its credentials.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
import psycopg
from psycopg.types.json import set_json_dumps, set_json_loads
from psycopg_pool import ConnectionPool

from registry_client.errors import StoreError, StoreUnavailableError
from registry_client.settings import redact_url

__all__ = ["SCHEMA", "Connection", "configure", "connect", "connection_kwargs", "mapped_errors", "open_pool"]

#: The PostgreSQL schema every canaryline table and view lives in.
SCHEMA = "canaryline"
Connection = psycopg.Connection[tuple[Any, ...]]


def connection_kwargs(timeout_s: float) -> dict[str, object]:
    """libpq parameters: connect within ``timeout_s`` (libpq's floor is 2 s), statements within it too."""
    return {
        "autocommit": True,
        "connect_timeout": max(2, math.ceil(timeout_s)),
        "options": f"-c statement_timeout={int(timeout_s * 1000)}",
        "application_name": "canaryline",
    }


def configure(conn: Connection) -> None:
    """Make ``conn`` read and write ``jsonb`` with orjson."""
    set_json_dumps(orjson.dumps, conn)
    set_json_loads(orjson.loads, conn)


def connect(url: str, timeout_s: float) -> Connection:
    """One connection of its own (not from the pool): for the listener and the migrations."""
    with mapped_errors(url, "connecting"):
        conn: Connection = psycopg.connect(url, **connection_kwargs(timeout_s))  # type: ignore[arg-type]
    configure(conn)
    return conn


def open_pool(
    url: str, *, timeout_s: float, max_size: int, prepare: Callable[[Connection], None] | None = None
) -> ConnectionPool[Connection]:
    """A pool that opens connections in the background (a server that is down does not stop the caller)."""

    def setup(conn: Connection) -> None:
        configure(conn)
        if prepare is not None:
            prepare(conn)

    pool: ConnectionPool[Connection] = ConnectionPool(
        url,
        min_size=1,
        max_size=max_size,
        kwargs=connection_kwargs(timeout_s),
        configure=setup,
        check=ConnectionPool.check_connection,
        timeout=timeout_s,
        reconnect_timeout=max(60.0, 10 * timeout_s),
        name="canaryline",
        open=False,
    )
    pool.open(wait=False)
    return pool


@contextmanager
def mapped_errors(url: str, doing: str) -> Iterator[None]:
    """Turn psycopg's errors raised inside into the store's, naming the server and what was being done."""
    try:
        yield
    except psycopg.OperationalError as exc:
        raise StoreUnavailableError(
            f"PostgreSQL at {redact_url(url)} is unavailable while {doing}: {_first_line(exc)}"
        ) from exc
    except psycopg.Error as exc:
        raise StoreError(f"PostgreSQL at {redact_url(url)} failed while {doing}: {_first_line(exc)}") from exc


def _first_line(exc: BaseException) -> str:
    """The server's own words: libpq's first line, without its ``connection to server … failed:`` preamble."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    return " ".join(text.rpartition(" failed: ")[2].replace("FATAL: ", "").split())
