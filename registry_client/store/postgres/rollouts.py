"""Rollouts in PostgreSQL: the rollout state, the controller's lease with its fencing token, request counts.

Every time a lease is taken, renewed or checked it is compared with the database's ``clock_timestamp()``,
never a gateway's clock, so replicas whose clocks disagree still agree on who holds it. Taking a lease is one
``INSERT … ON CONFLICT DO UPDATE … WHERE`` (atomic under the row's lock): the holder renews and keeps its
token; anyone else succeeds only once it expired, and then takes ``nextval('canaryline.lease_tokens')``, so
tokens only grow. A fenced write (:func:`check_fence`, called inside the plan's or state's transaction) locks
the lease row ``FOR UPDATE`` before it compares holder, token and expiry: a successor's take-over waits for
that transaction, so it cannot slip in between the check and the write.

A rollout state changes with one conditional statement (insert for seq 1, ``UPDATE … WHERE seq = seq - 1``
after), so two writers from the same seq cannot both succeed. Request counts are summed per key in Python,
then upserted with ``unnest`` arrays: one statement for any batch size.
"""

from __future__ import annotations

from collections.abc import Sequence

from registry_client.domain.request_counts import CountKey, RequestCount
from registry_client.domain.rollout import Fence, RolloutState
from registry_client.errors import LeaseLostError, RolloutConflictError
from registry_client.store.postgres.connection import Connection

__all__ = [
    "acquire_lease",
    "add_request_counts",
    "check_fence",
    "get_rollout",
    "release_lease",
    "request_counts",
    "rollouts",
    "save_rollout",
]

_ACQUIRE = (
    "INSERT INTO canaryline.leases AS l (name, holder, token, expires_at) "
    "VALUES (%(name)s, %(holder)s, nextval('canaryline.lease_tokens'), "
    "clock_timestamp() + make_interval(secs => %(ttl)s)) "
    "ON CONFLICT (name) DO UPDATE SET "
    "token = CASE WHEN l.holder = excluded.holder AND l.expires_at > clock_timestamp() "
    "THEN l.token ELSE excluded.token END, "
    "holder = excluded.holder, expires_at = excluded.expires_at "
    "WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp() "
    "RETURNING token"
)


def get_rollout(conn: Connection, model: str) -> RolloutState | None:
    row = conn.execute("SELECT body::text FROM canaryline.rollouts WHERE model = %s", (model,)).fetchone()
    return RolloutState.model_validate_json(str(row[0])) if row else None


def rollouts(conn: Connection) -> dict[str, RolloutState]:
    rows = conn.execute("SELECT model, body::text FROM canaryline.rollouts ORDER BY model").fetchall()
    return {str(model): RolloutState.model_validate_json(str(body)) for model, body in rows}


def save_rollout(conn: Connection, state: RolloutState, *, fence: Fence | None) -> None:
    model, body = state.spec.model, state.model_dump_json()
    with conn.transaction():
        check_fence(conn, fence)
        if state.seq == 1:
            row = conn.execute(
                "INSERT INTO canaryline.rollouts (model, seq, body) VALUES (%s, 1, %s::jsonb) "
                "ON CONFLICT (model) DO NOTHING RETURNING seq",
                (model, body),
            ).fetchone()
        else:
            row = conn.execute(
                "UPDATE canaryline.rollouts SET seq = %s, body = %s::jsonb, updated_at = now() "
                "WHERE model = %s AND seq = %s RETURNING seq",
                (state.seq, body, model, state.seq - 1),
            ).fetchone()
        if row is None:
            found = conn.execute("SELECT seq FROM canaryline.rollouts WHERE model = %s", (model,)).fetchone()
            current = int(found[0]) if found else 0
            raise RolloutConflictError(
                f"model {model!r}: its rollout state is at seq {current}, not {state.seq - 1}; read it again and retry"
            )


def acquire_lease(conn: Connection, name: str, holder: str, ttl_s: float) -> Fence | None:
    row = conn.execute(_ACQUIRE, {"name": name, "holder": holder, "ttl": ttl_s}).fetchone()
    return Fence(name=name, holder=holder, token=int(row[0])) if row else None


def release_lease(conn: Connection, fence: Fence) -> None:
    conn.execute(
        "UPDATE canaryline.leases SET expires_at = '-infinity' WHERE name = %s AND holder = %s AND token = %s",
        (fence.name, fence.holder, fence.token),
    )


def check_fence(conn: Connection, fence: Fence | None) -> None:
    """Inside the caller's transaction: lock the lease row; LeaseLostError unless it is ``fence``'s, unexpired."""
    if fence is None:
        return
    row = conn.execute(
        "SELECT holder, token, expires_at > clock_timestamp() FROM canaryline.leases WHERE name = %s FOR UPDATE",
        (fence.name,),
    ).fetchone()
    if row is None or (row[0], int(row[1])) != (fence.holder, fence.token) or not row[2]:
        raise LeaseLostError(
            f"lease {fence.name!r} is no longer held by {fence.holder!r} with token {fence.token}: "
            "another controller took over"
        )


def add_request_counts(conn: Connection, counts: Sequence[RequestCount]) -> None:
    totals: dict[CountKey, list[int]] = {}
    buckets: set[tuple[str, int, str, str, int]] = set()
    for count in counts:
        total = totals.setdefault(count.key, [0, 0])
        total[0] += count.served
        total[1] += count.failed
        key = count.key
        buckets.update((key.model, key.revision, key.version, key.route, b) for b in count.buckets)
    if not totals:
        return
    keys = list(totals)
    with conn.transaction():
        conn.execute(
            "INSERT INTO canaryline.request_counts AS c (model, revision, version, route, keyed, served, failed) "
            "SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[], %s::bool[], %s::bigint[], "
            "%s::bigint[]) ON CONFLICT (model, revision, version, route, keyed) DO UPDATE "
            "SET served = c.served + excluded.served, failed = c.failed + excluded.failed",
            (
                [k.model for k in keys],
                [k.revision for k in keys],
                [k.version for k in keys],
                [k.route for k in keys],
                [k.keyed for k in keys],
                [totals[k][0] for k in keys],
                [totals[k][1] for k in keys],
            ),
        )
        if buckets:
            rows = sorted(buckets)
            conn.execute(
                "INSERT INTO canaryline.request_buckets (model, revision, version, route, bucket) "
                "SELECT * FROM unnest(%s::text[], %s::int[], %s::text[], %s::text[], %s::int[]) ON CONFLICT DO NOTHING",
                tuple([r[i] for r in rows] for i in range(5)),
            )


def request_counts(conn: Connection, model: str, revisions: Sequence[int]) -> list[RequestCount]:
    wanted = sorted(set(revisions))
    if not wanted:
        return []
    rows = conn.execute(
        "SELECT c.version, c.revision, c.route, c.keyed, c.served, c.failed, "
        "CASE WHEN c.keyed THEN (SELECT array_agg(b.bucket) FROM canaryline.request_buckets AS b "
        "WHERE b.model = c.model AND b.revision = c.revision AND b.version = c.version AND b.route = c.route) END "
        "FROM canaryline.request_counts AS c WHERE c.model = %s AND c.revision = ANY(%s) "
        "ORDER BY c.revision, c.version, c.route, c.keyed",
        (model, wanted),
    ).fetchall()
    return [
        RequestCount(
            CountKey(model, str(version), int(revision), str(route), bool(keyed)),
            int(served),
            int(failed),
            frozenset(found or ()),
        )
        for version, revision, route, keyed, served, failed, found in rows
    ]
