"""Outcomes in PostgreSQL: kept with no expiry, one per request and one per named prediction.

Each write is one ``INSERT … ON CONFLICT DO UPDATE``: atomic, so concurrent posts for one key leave exactly
one row, and ``RETURNING xmax <> 0`` tells an update (an earlier outcome replaced) from an insert in the
same round trip. A label that arrives 90 days after its prediction joins it like one that arrives at once.

:func:`merge_outcomes` is the write of ``canaryline sink``, which delivers each outcome at least once and
possibly out of order (a dead sink's entries are claimed by another later): an outcome replaces the stored
one only when it was received no earlier, so a redelivered older one never overwrites a newer one.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb

from registry_client.domain.records import OutcomeRecord
from registry_client.store.postgres.connection import Connection

__all__ = ["get_outcomes", "get_prediction_outcomes", "merge_outcomes", "put_outcome"]

_TIMES = "extract(epoch FROM observed_at)::float8, extract(epoch FROM received_at)::float8"


def put_outcome(
    conn: Connection,
    request_id: str,
    outcome: Any,
    observed_at: float,
    received_at: float,
    *,
    prediction_id: str | None,
) -> bool:
    observed, received = datetime.fromtimestamp(observed_at, UTC), datetime.fromtimestamp(received_at, UTC)
    if prediction_id is None:
        row = conn.execute(
            "INSERT INTO canaryline.outcomes (request_id, outcome, observed_at, received_at) VALUES (%s, %s, %s, %s) "
            "ON CONFLICT (request_id) DO UPDATE SET outcome = excluded.outcome, observed_at = excluded.observed_at, "
            "received_at = excluded.received_at RETURNING xmax <> 0",
            (request_id, Jsonb(outcome), observed, received),
        ).fetchone()
    else:
        row = conn.execute(
            "INSERT INTO canaryline.prediction_outcomes (prediction_id, request_id, outcome, observed_at, received_at) "
            "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (prediction_id) DO UPDATE SET request_id = excluded.request_id, "
            "outcome = excluded.outcome, observed_at = excluded.observed_at, received_at = excluded.received_at "
            "RETURNING xmax <> 0",
            (prediction_id, request_id, Jsonb(outcome), observed, received),
        ).fetchone()
    return bool(row and row[0])


_MERGE_REQUEST = (
    "INSERT INTO canaryline.outcomes AS o (request_id, outcome, observed_at, received_at) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT (request_id) DO UPDATE SET outcome = excluded.outcome, observed_at = excluded.observed_at, "
    "received_at = excluded.received_at WHERE o.received_at <= excluded.received_at"
)
_MERGE_PREDICTION = (
    "INSERT INTO canaryline.prediction_outcomes AS o (prediction_id, request_id, outcome, observed_at, received_at) "
    "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (prediction_id) DO UPDATE SET request_id = excluded.request_id, "
    "outcome = excluded.outcome, observed_at = excluded.observed_at, received_at = excluded.received_at "
    "WHERE o.received_at <= excluded.received_at"
)


def merge_outcomes(conn: Connection, records: Sequence[OutcomeRecord]) -> None:
    """Write ``records`` in their order, in one transaction (pipelined), each only over an outcome received
    no later than it."""
    by_request, by_prediction = [], []
    for r in records:
        observed, received = datetime.fromtimestamp(r.observed_at, UTC), datetime.fromtimestamp(r.received_at, UTC)
        if r.prediction_id is None:
            by_request.append((r.request_id, Jsonb(r.outcome), observed, received))
        else:
            by_prediction.append((r.prediction_id, r.request_id, Jsonb(r.outcome), observed, received))
    with conn.transaction(), conn.cursor() as cur:
        if by_request:
            cur.executemany(_MERGE_REQUEST, by_request)
        if by_prediction:
            cur.executemany(_MERGE_PREDICTION, by_prediction)


def get_outcomes(conn: Connection, request_ids: Sequence[str]) -> dict[str, OutcomeRecord]:
    wanted = list(dict.fromkeys(request_ids))
    if not wanted:
        return {}
    rows = conn.execute(
        f"SELECT request_id, outcome, {_TIMES} FROM canaryline.outcomes WHERE request_id = ANY(%s)",  # noqa: S608
        (wanted,),
    ).fetchall()
    return {str(r[0]): OutcomeRecord(r[0], r[1], r[2], r[3]) for r in rows}


def get_prediction_outcomes(conn: Connection, prediction_ids: Sequence[str]) -> dict[str, OutcomeRecord]:
    wanted = list(dict.fromkeys(prediction_ids))
    if not wanted:
        return {}
    rows = conn.execute(
        f"SELECT prediction_id, request_id, outcome, {_TIMES} FROM canaryline.prediction_outcomes "  # noqa: S608
        "WHERE prediction_id = ANY(%s)",
        (wanted,),
    ).fetchall()
    return {str(r[0]): OutcomeRecord(r[1], r[2], r[3], r[4], prediction_id=r[0]) for r in rows}
