"""The prediction log in PostgreSQL: day partitions, idempotent binary-COPY writes, keyset reads.

``canaryline.predictions`` is range-partitioned by UTC day on ``ts`` (``predictions_YYYYMMDD``), so
retention drops whole partitions and a time window reads only its days. A partition is created the first
time a record of its day is written (under an advisory lock, so workers racing for a new day create it
once), including a day far in the past when a spool replays old records.

**Exactly once across partitions.** A unique index on a partitioned table must contain the partition key,
so ``PRIMARY KEY (ts, prediction_id)`` alone would let the same prediction_id land twice if it were ever
written with two different ``ts``. ``canaryline.prediction_ids`` (prediction_id primary key, with its
``ts`` for retention) is the guard instead: a batch is sent with one binary ``COPY`` into a per-connection
temporary table, then one statement inserts the new ids (``ON CONFLICT DO NOTHING``) and only their
records, in the batch's order, in the same transaction. A retried or replayed batch writes nothing twice,
and two writers racing on one id wait on each other's index entry, so one of them writes it.

Reads go model by model in ``seq`` order (the identity column: write order) through a server-side cursor,
1,000 rows per fetch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

from registry_client.domain.records import PredictionRecord
from registry_client.store.postgres.connection import Connection

__all__ = [
    "COLUMNS",
    "PARTITION_LOCK",
    "Partitions",
    "append",
    "count",
    "create_staging",
    "for_request",
    "models",
    "partition_name",
    "record_of",
    "staging_row",
    "stream",
]

#: The advisory-lock key partition creation and retention run under ("cl-parts").
PARTITION_LOCK = 0x636C2D7061727473
PAGE = 1000
#: The record's fields in PredictionRecord's order, as the table's columns.
COLUMNS = (
    "prediction_id",
    "request_id",
    "ts",
    "model",
    "model_version",
    "route",
    "revision",
    "inputs",
    "predictions",
    "latency_ms",
    "instance",
    "shadow",
    "probabilities",
    "trace_id",
    "primary_id",
)
_TYPES = (
    *("text", "text", "timestamptz", "text", "text", "text", "int4", "jsonb", "jsonb", "float8", "text"),
    *("bool", "jsonb", "text", "text"),
)
_COLS = ", ".join(COLUMNS)
_SELECT = ", ".join("extract(epoch FROM ts)::float8" if c == "ts" else c for c in COLUMNS)
_STAGING = "canaryline_staging"


def partition_name(day: date) -> str:
    return f"predictions_{day:%Y%m%d}"


def create_staging(conn: Connection) -> None:
    """The temporary table a connection's batches are copied into (emptied at every commit)."""
    columns = ", ".join(f"{c} {t}" for c, t in zip(COLUMNS, _TYPES, strict=True))
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (ord int4, {columns}) ON COMMIT DELETE ROWS")


class Partitions:
    """The day partitions this process knows exist (one lookup per new day, not per batch)."""

    def __init__(self) -> None:
        self.known: set[date] = set()

    def ensure(self, conn: Connection, days: set[date]) -> None:
        for day in sorted(days - self.known):
            name = partition_name(day)
            if conn.execute("SELECT to_regclass(%s)", (f"canaryline.{name}",)).fetchone() == (None,):
                start = datetime(day.year, day.month, day.day, tzinfo=UTC)
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (PARTITION_LOCK,))
                    conn.execute(
                        sql.SQL(
                            "CREATE TABLE IF NOT EXISTS canaryline.{} PARTITION OF canaryline.predictions "
                            "FOR VALUES FROM ({}) TO ({})"
                        ).format(sql.Identifier(name), sql.Literal(start), sql.Literal(start + timedelta(days=1)))
                    )
            self.known.add(day)

    def forget(self) -> None:
        """After retention dropped partitions: look every day up again."""
        self.known.clear()


def append(conn: Connection, partitions: Partitions, records: Sequence[PredictionRecord]) -> int:
    """Write the records not logged yet, in one transaction; how many were new."""
    stamps = [datetime.fromtimestamp(r.ts, UTC) for r in records]
    partitions.ensure(conn, {stamp.date() for stamp in stamps})
    try:
        return _write(conn, records, stamps)
    except psycopg.errors.CheckViolation:  # a partition dropped since this process saw it: create it again
        partitions.forget()
        partitions.ensure(conn, {stamp.date() for stamp in stamps})
        return _write(conn, records, stamps)


def staging_row(ord_: int, r: PredictionRecord, stamp: datetime) -> tuple[object, ...]:
    """One record as a row of the staging table's binary COPY: its order in the batch, then ``COLUMNS``."""
    return (
        ord_,
        r.prediction_id,
        r.request_id,
        stamp,
        r.model,
        r.model_version,
        r.route,
        r.revision,
        r.inputs,
        r.predictions,
        r.latency_ms,
        r.instance,
        r.shadow,
        r.probabilities,
        r.trace_id,
        r.primary_id,
    )


def _write(conn: Connection, records: Sequence[PredictionRecord], stamps: list[datetime]) -> int:
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(f"COPY {_STAGING} (ord, {_COLS}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(["int4", *_TYPES])
            for ord_, (r, stamp) in enumerate(zip(records, stamps, strict=True)):
                copy.write_row(staging_row(ord_, r, stamp))
        cur.execute(
            f"WITH fresh AS ("  # noqa: S608 (only our own column names are formatted in)
            f" INSERT INTO canaryline.prediction_ids (prediction_id, ts)"
            f" SELECT prediction_id, ts FROM {_STAGING} ORDER BY ord"
            f" ON CONFLICT (prediction_id) DO NOTHING RETURNING prediction_id)"
            f" INSERT INTO canaryline.predictions ({_COLS})"
            f" SELECT {_COLS} FROM ("
            f"  SELECT DISTINCT ON (s.prediction_id) s.* FROM {_STAGING} AS s JOIN fresh USING (prediction_id)"
            f"  ORDER BY s.prediction_id, s.ord) AS batch"
            f" ORDER BY ord"
        )
        return cur.rowcount


def stream(conn: Connection, model: str, since: float | None, until: float | None) -> Iterator[PredictionRecord]:
    """Every record of ``model`` in the window, in write order, through a server-side cursor.

    One query (a merge of the (model, seq) index of each partition the window touches), fetched 1,000 rows
    at a time: memory stays flat however long the log is, and each partition's index is opened once, not
    once per page as keyset paging would (with a year of day partitions that is 365 index probes a page).
    The cursor's transaction holds ``conn`` until the iteration ends or the iterator is closed.
    """
    conditions, params = ["model = %s"], list[object]([model])
    filters: tuple[tuple[str, object], ...] = (
        ("ts >= to_timestamp(%s)", since),
        ("ts < to_timestamp(%s)", until),
    )
    for clause, value in filters:
        if value is not None:
            conditions.append(clause)
            params.append(value)
    where = " AND ".join(conditions)
    query = f"SELECT {_SELECT} FROM canaryline.predictions WHERE {where} ORDER BY seq"  # noqa: S608
    with conn.transaction(), conn.cursor(name="canaryline_log") as cur:
        cur.itersize = PAGE
        cur.execute(query.encode(), params)
        for row in cur:
            yield record_of(row)


def models(conn: Connection) -> list[str]:
    """The models that have records, by name: a loose scan of the (model, seq) index, one probe per model
    (a plain DISTINCT would read every row)."""
    rows = conn.execute(
        "WITH RECURSIVE m (model) AS ("
        " (SELECT model FROM canaryline.predictions ORDER BY model LIMIT 1)"
        " UNION ALL"
        " SELECT (SELECT p.model FROM canaryline.predictions AS p WHERE p.model > m.model ORDER BY p.model LIMIT 1)"
        " FROM m WHERE m.model IS NOT NULL)"
        " SELECT model FROM m WHERE model IS NOT NULL"
    ).fetchall()
    return [str(model) for (model,) in rows]


def count(conn: Connection, model: str | None) -> int:
    if model is None:
        row = conn.execute("SELECT count(*) FROM canaryline.predictions").fetchone()
    else:
        row = conn.execute("SELECT count(*) FROM canaryline.predictions WHERE model = %s", (model,)).fetchone()
    return int(row[0]) if row else 0


def for_request(conn: Connection, request_id: str) -> list[PredictionRecord]:
    rows = conn.execute(
        f"SELECT {_SELECT} FROM canaryline.predictions WHERE request_id = %s ORDER BY shadow, ts, seq".encode(),  # noqa: S608
        (request_id,),
    ).fetchall()
    return [record_of(row) for row in rows]


def record_of(row: Sequence[Any]) -> PredictionRecord:
    return PredictionRecord(*row)
