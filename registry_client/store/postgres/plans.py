"""Routing plans in PostgreSQL: optimistic revisions, the append-only audit, the epoch and LISTEN/NOTIFY.

A plan change is one transaction: with a fence, it first checks the rollout lease (``rollouts.check_fence``,
the lease row locked until commit); it then moves the one-row epoch first (that row lock serializes every plan
change, so two writers can never both see revision N and both write N+1), checks the stored revision,
writes the plan, appends the audit row and sends ``NOTIFY canaryline_plans, '<model>'``, which PostgreSQL
delivers at commit, to every listening gateway of every replica, and never for a change rolled back.

:class:`PlanListener` waits for those notifications on a connection of its own (a pooled one would be
returned, and its LISTEN lost). When the database is down it sleeps out the wait instead, so the caller's
periodic epoch check takes over; the next wait connects again.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from contextlib import suppress
from typing import Any

import psycopg

from registry_client.domain.plan import AuditEntry, Plan, PlanAction
from registry_client.domain.rollout import Fence
from registry_client.errors import PlanConflictError, StoreError
from registry_client.store.postgres.connection import Connection, connect
from registry_client.store.postgres.rollouts import check_fence

__all__ = [
    "PLANS_CHANNEL",
    "PlanListener",
    "epoch",
    "get_plan",
    "history",
    "mirror",
    "plans",
    "revisions",
    "save_plan",
]

PLANS_CHANNEL = "canaryline_plans"


def get_plan(conn: Connection, model: str) -> Plan | None:
    row = conn.execute("SELECT body::text FROM canaryline.plans WHERE model = %s", (model,)).fetchone()
    return Plan.model_validate_json(str(row[0])) if row else None


def plans(conn: Connection) -> dict[str, Plan]:
    rows = conn.execute("SELECT model, body::text FROM canaryline.plans ORDER BY model").fetchall()
    return {str(model): Plan.model_validate_json(str(body)) for model, body in rows}


def epoch(conn: Connection) -> int:
    row = conn.execute("SELECT epoch FROM canaryline.plans_epoch").fetchone()
    return int(row[0]) if row else 0


def save_plan(
    conn: Connection,
    plan: Plan,
    *,
    before: Plan | None,
    action: PlanAction,
    evidence: dict[str, Any] | None = None,
    fence: Fence | None = None,
) -> AuditEntry:
    entry = AuditEntry.of(plan, before=before, action=action, evidence=evidence)
    with conn.transaction():
        check_fence(conn, fence)  # first: a writer that lost its lease waits on no other lock
        conn.execute("UPDATE canaryline.plans_epoch SET epoch = epoch + 1")
        row = conn.execute("SELECT revision FROM canaryline.plans WHERE model = %s", (plan.model,)).fetchone()
        current = int(row[0]) if row else 0
        if current != plan.revision - 1:
            raise PlanConflictError(
                f"model {plan.model!r}: the plan is at revision {current}, "
                f"not {plan.revision - 1}; read it again and retry"
            )
        conn.execute(
            "INSERT INTO canaryline.plans (model, revision, body, updated_at) VALUES (%s, %s, %s::jsonb, %s) "
            "ON CONFLICT (model) DO UPDATE SET revision = excluded.revision, body = excluded.body, "
            "updated_at = excluded.updated_at",
            (plan.model, plan.revision, plan.model_dump_json(), plan.updated_at),
        )
        _append_history(conn, entry)
        conn.execute("SELECT pg_notify(%s, %s)", (PLANS_CHANNEL, plan.model))
    return entry


_APPEND = (
    "INSERT INTO canaryline.plan_history (model, revision, at, actor, action, reason, before, after, entry, "
    "evidence) VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb, "
    "nullif(%s::jsonb -> 'evidence', 'null'))"  # the entry's own evidence, as history() returns it
)
_SKIP_EXISTING = _APPEND + " ON CONFLICT (model, revision) DO NOTHING"


def _append_history(conn: Connection, entry: AuditEntry, *, skip_existing: bool = False) -> int:
    """Write ``entry`` to the audit table; with ``skip_existing``, a revision already there is left alone."""
    cur = conn.execute(
        _SKIP_EXISTING if skip_existing else _APPEND,
        (
            entry.model,
            entry.revision,
            entry.at,
            entry.actor,
            entry.action,
            entry.reason,
            entry.before.model_dump_json() if entry.before is not None else None,
            entry.after.model_dump_json(),
            entry.model_dump_json(),
            entry.model_dump_json(include={"evidence"}),
        ),
    )
    return cur.rowcount


def mirror(conn: Connection, current: Mapping[str, Plan], entries: Sequence[AuditEntry]) -> int:
    """Copy plans and audit entries kept by another store (the gateways' Redis, through ``canaryline sink``),
    in one transaction; how many audit entries were new.

    Idempotent: an entry whose revision is already here is skipped, and a plan replaces the stored one only
    when its revision is higher, so a repeated or concurrent mirror changes nothing. When anything changed,
    the epoch moves and ``NOTIFY`` is sent, as for a change made here.
    """
    with conn.transaction():
        new = sum(_append_history(conn, entry, skip_existing=True) for entry in entries)
        moved = 0
        for plan in current.values():
            moved += conn.execute(
                "INSERT INTO canaryline.plans (model, revision, body, updated_at) VALUES (%s, %s, %s::jsonb, %s) "
                "ON CONFLICT (model) DO UPDATE SET revision = excluded.revision, body = excluded.body, "
                "updated_at = excluded.updated_at WHERE canaryline.plans.revision < excluded.revision",
                (plan.model, plan.revision, plan.model_dump_json(), plan.updated_at),
            ).rowcount
        if new or moved:
            conn.execute("UPDATE canaryline.plans_epoch SET epoch = epoch + 1")
            for model in sorted({e.model for e in entries} | set(current)):
                conn.execute("SELECT pg_notify(%s, %s)", (PLANS_CHANNEL, model))
    return new


def revisions(conn: Connection) -> dict[str, int]:
    """The latest audited revision of every model."""
    rows = conn.execute("SELECT model, max(revision) FROM canaryline.plan_history GROUP BY model").fetchall()
    return {str(model): int(revision) for model, revision in rows}


def history(conn: Connection, model: str) -> list[AuditEntry]:
    rows = conn.execute(
        "SELECT entry::text FROM canaryline.plan_history WHERE model = %s ORDER BY revision", (model,)
    ).fetchall()
    return [AuditEntry.model_validate_json(str(body)) for (body,) in rows]


class PlanListener:
    """``LISTEN canaryline_plans`` on a dedicated connection; meant for one thread (the plan watcher)."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._conn: Connection | None = None

    def wait(self, timeout: float) -> None:
        """Return when a plan change is announced, or after ``timeout`` seconds."""
        started = time.monotonic()
        try:
            if self._conn is None:
                conn = connect(self.url, self.timeout_s)
                conn.execute(f"LISTEN {PLANS_CHANNEL}")
                self._conn = conn
            left = max(0.0, timeout - (time.monotonic() - started))
            for _ in self._conn.notifies(timeout=left, stop_after=1):
                break
        except (psycopg.Error, StoreError):
            self.close()
            time.sleep(max(0.0, timeout - (time.monotonic() - started)))  # down: the epoch check takes over

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with suppress(psycopg.Error):  # closing a connection the server already dropped
                conn.close()
