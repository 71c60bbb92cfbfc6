"""Retention in PostgreSQL: whole day partitions dropped once every row in them is older than the limit.

With ``CANARYLINE_RETENTION_DAYS=N``, the partition of day D goes when D + 1 day <= now - N days, so no
record younger than N days is ever removed (a partition still holding one is kept whole). The outcomes of
the dropped predictions go with them: a request outcome when none of the request's records is kept, an
outcome naming a prediction when that prediction is dropped; so do their ``prediction_ids`` guards. All of
it is one transaction under the partition lock, so a gateway creating a partition, or a second prune,
waits, and a failure drops nothing. Dropping a partition is a catalog change, not a scan: it takes the
same time for a day of ten rows or ten million (the outcome deletes read only the dropped days' request
IDs, through the indexes).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from psycopg import sql

from registry_client.store.postgres.connection import Connection
from registry_client.store.postgres.log import PARTITION_LOCK

__all__ = ["Pruned", "day_partitions", "prune"]

_DAY = re.compile(r"^predictions_(\d{8})$")
#: Deleting the outcomes of many days may take longer than one ordinary call's statement timeout.
_PRUNE_TIMEOUT = "10min"


@dataclass(frozen=True)
class Pruned:
    """What a prune removed (or, with ``dry_run``, would remove)."""

    cutoff: datetime  # every dropped row has ts before this
    partitions: list[str]
    predictions: int
    outcomes: int
    dry_run: bool = False


def day_partitions(conn: Connection) -> dict[str, date]:
    """Every day partition of ``canaryline.predictions``, by name, with its UTC day."""
    rows = conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'canaryline.predictions'::regclass"
    ).fetchall()
    found = {}
    for (name,) in rows:
        match = _DAY.match(str(name))
        if match:
            found[str(name)] = datetime.strptime(match.group(1), "%Y%m%d").replace(tzinfo=UTC).date()
    return found


def prune(conn: Connection, days: int, *, now: float | None = None, dry_run: bool = False) -> Pruned:
    """Drop the day partitions wholly older than ``days`` days before ``now``, with their outcomes; with
    ``dry_run``, do all of it and roll it back (the counts say what would go)."""
    cutoff = datetime.fromtimestamp(time.time() if now is None else now, UTC) - timedelta(days=days)
    with conn.transaction(force_rollback=dry_run):
        conn.execute("SELECT set_config('statement_timeout', %s, true)", (_PRUNE_TIMEOUT,))
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
        ends = {
            name: datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1)
            for name, day in day_partitions(conn).items()
        }
        old = sorted(name for name, end in ends.items() if end <= cutoff)
        if not old:
            return Pruned(cutoff, [], 0, 0, dry_run)
        kept_from = max(ends[name] for name in old)  # every day before it is dropped, none after it
        dropped = sql.SQL(" UNION ALL ").join(
            sql.SQL("SELECT prediction_id, request_id FROM canaryline.{}").format(sql.Identifier(name)) for name in old
        )
        conn.execute(sql.SQL("CREATE TEMP TABLE canaryline_pruned ON COMMIT DROP AS {}").format(dropped))
        conn.execute("CREATE INDEX ON canaryline_pruned (request_id)")
        conn.execute("ANALYZE canaryline_pruned")
        predictions = _count(conn, "SELECT count(*) FROM canaryline_pruned")
        outcomes = _count(
            conn,
            "WITH gone AS (DELETE FROM canaryline.outcomes AS o WHERE o.request_id IN "
            "(SELECT request_id FROM canaryline_pruned) AND NOT EXISTS (SELECT 1 FROM canaryline.predictions AS p "
            "WHERE p.request_id = o.request_id AND p.ts >= %s) RETURNING 1) SELECT count(*) FROM gone",
            kept_from,
        )
        outcomes += _count(
            conn,
            "WITH gone AS (DELETE FROM canaryline.prediction_outcomes AS o WHERE o.prediction_id IN "
            "(SELECT prediction_id FROM canaryline_pruned) RETURNING 1) SELECT count(*) FROM gone",
        )
        conn.execute(
            "DELETE FROM canaryline.prediction_ids AS g USING canaryline_pruned AS d "
            "WHERE g.prediction_id = d.prediction_id"
        )
        for name in old:
            conn.execute(sql.SQL("DROP TABLE canaryline.{}").format(sql.Identifier(name)))
    return Pruned(cutoff, old, predictions, outcomes, dry_run)  # a dry run's transaction was rolled back


def _count(conn: Connection, query: str, *params: object) -> int:
    row = conn.execute(query.encode(), params or None).fetchone()
    return int(row[0]) if row else 0
