"""Versioned migrations: plain SQL files shipped in the package, applied once, in order, under a lock.

``migrations/NNNN_name.sql`` is schema version NNNN. :func:`migrate` brings the ``canaryline`` schema up to
the newest file; ``canaryline.schema_version`` keeps one row per applied version. Why plain SQL and not a
migration tool (Alembic, yoyo, sqitch): the schema is a handful of tables that analysts read, the files
are the documentation, and applying them takes twenty lines here instead of a dependency with its own
configuration and its own version table in every deployment.

Safety when several gateways start at once: everything happens in one transaction holding
``pg_advisory_xact_lock`` on a fixed key, so one process applies the files and the others wait, then find
nothing left to do (DDL is transactional in PostgreSQL, so a failure applies nothing). A process whose
files end before the database's version refuses to use it (:class:`StoreSchemaError`): newer code wrote
tables this code does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.resources import files

from psycopg import sql

from registry_client.errors import StoreSchemaError
from registry_client.store.postgres.connection import SCHEMA, Connection

__all__ = ["MIGRATION_LOCK", "Migration", "current_version", "latest_version", "migrate", "migrations"]

#: The advisory-lock key migrations run under (any fixed 64-bit number: "canaryln" in ASCII).
MIGRATION_LOCK = 0x63616E617279_6C6E
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
#: Migrations may rewrite tables: they run without the per-statement timeout of ordinary calls.
_MIGRATION_TIMEOUT = "10min"


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every migration file shipped with the package, by version."""
    folder = files("registry_client.store.postgres").joinpath("migrations")
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.version)


def latest_version() -> int:
    return migrations()[-1].version


def current_version(conn: Connection) -> int | None:
    """The database's schema version: None when canaryline's schema was never created there."""
    row = conn.execute("SELECT to_regclass(%s)", (f"{SCHEMA}.schema_version",)).fetchone()
    if row is None or row[0] is None:
        return None
    found = conn.execute(sql.SQL("SELECT max(version) FROM {}.schema_version").format(sql.Identifier(SCHEMA)))
    version = found.fetchone()
    return int(version[0]) if version and version[0] is not None else 0


def migrate(conn: Connection, *, upto: int | None = None) -> int:
    """Apply every migration the database lacks (up to ``upto``, for tests), under the lock; the version now.

    Raises StoreSchemaError when the database is newer than the newest migration shipped here.
    """
    known = [m for m in migrations() if upto is None or m.version <= upto]
    newest = known[-1].version
    if current_version(conn) == newest:
        return newest  # the usual start: nothing to do, no lock taken
    with conn.transaction():
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (_MIGRATION_TIMEOUT,))
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.schema_version ("
                "version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
            ).format(sql.Identifier(SCHEMA))
        )
        current = current_version(conn) or 0
        if current > newest:
            raise StoreSchemaError(
                f"the PostgreSQL schema {SCHEMA!r} is at version {current}, newer than this canaryline "
                f"(which knows versions up to {newest}): upgrade canaryline, or use another database"
            )
        for migration in known:
            if migration.version > current:
                conn.execute(migration.sql.encode())
                conn.execute(
                    sql.SQL("INSERT INTO {}.schema_version (version, name) VALUES (%s, %s)").format(
                        sql.Identifier(SCHEMA)
                    ),
                    (migration.version, migration.name),
                )
    return newest
