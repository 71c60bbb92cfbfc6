"""Routing plans in PostgreSQL: optimistic revisions, the append-only audit, the epoch and LISTEN/NOTIFY.

A plan change is one transaction: it moves the one-row epoch first (that row lock serializes every plan
change, so two writers can never both see revision N and both write N+1), checks the stored revision,
writes the plan, appends the audit row and sends ``NOTIFY canaryline_plans, '<model>'``, which PostgreSQL
delivers at commit, to every listening gateway of every replica, and never for a change rolled back.

:class:`PlanListener` waits for those notifications on a connection of its own (a pooled one would be
returned, and its LISTEN lost). When the database is down it sleeps out the wait instead, so the caller's
periodic epoch check takes over; the next wait connects again.
"""

from __future__ import annotations

import time
from contextlib import suppress

import psycopg

from registry_client.domain.plan import AuditEntry, Plan, PlanAction
from registry_client.errors import PlanConflictError, StoreError
from registry_client.store.postgres.connection import Connection, connect

__all__ = ["PLANS_CHANNEL", "PlanListener", "epoch", "get_plan", "history", "plans", "save_plan"]

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


def save_plan(conn: Connection, plan: Plan, *, before: Plan | None, action: PlanAction) -> AuditEntry:
    entry = AuditEntry.of(plan, before=before, action=action)
    with conn.transaction():
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
        conn.execute(
            "INSERT INTO canaryline.plan_history (model, revision, at, actor, action, reason, before, after, entry) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s::jsonb)",
            (
                plan.model,
                plan.revision,
                entry.at,
                entry.actor,
                entry.action,
                entry.reason,
                before.model_dump_json() if before is not None else None,
                plan.model_dump_json(),
                entry.model_dump_json(),
            ),
        )
        conn.execute("SELECT pg_notify(%s, %s)", (PLANS_CHANNEL, plan.model))
    return entry


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
