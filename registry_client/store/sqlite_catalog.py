"""The SQLite store's version catalog: one row per registered version, and the registry audit.

A mixin of :class:`~registry_client.store.sqlite.SQLiteStore` (it needs its ``_conn`` and ``_write_plan``).
``model_versions`` keeps each record's JSON ``body`` (archive fields included); ``version_events`` one row
per version registered or archived. Every write is one ``BEGIN IMMEDIATE`` transaction: registering writes
the record, its event and (for a model without a plan) the first plan under one lock, and archiving reads the
plan under the same lock that any plan change takes, so a plan cannot start using the version in between.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import orjson

from registry_client.domain.model_version import (
    ModelVersion,
    VersionEvent,
    exists,
    in_use,
    serving_role,
    unknown,
)
from registry_client.domain.plan import AuditEntry, Plan
from registry_client.domain.versions import version_key
from registry_client.errors import StoreError

__all__ = ["CATALOG_SCHEMA", "CatalogTables"]

CATALOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_versions (
    model TEXT NOT NULL, version TEXT NOT NULL, body BLOB NOT NULL, PRIMARY KEY (model, version));
CREATE TABLE IF NOT EXISTS version_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, model TEXT NOT NULL, body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS version_events_model ON version_events (model, seq);
"""


class CatalogTables:
    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def _write_plan(self, conn: sqlite3.Connection, plan: Plan, entry: AuditEntry) -> None:
        raise NotImplementedError

    @contextmanager
    def _immediate(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; SQLite's own errors become StoreError."""
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"the SQLite store refused a catalog write: {exc}") from exc

    def register_version(self, record: ModelVersion, *, first_plan: Plan) -> bool:
        event = VersionEvent(record.model, record.version, "register", record.created, record.created_by or "registry")
        with self._immediate() as conn:
            found = conn.execute(
                "SELECT 1 FROM model_versions WHERE model = ? AND version = ?", (record.model, record.version)
            ).fetchone()
            if found:
                raise exists(record.model, record.version)
            conn.execute(
                "INSERT INTO model_versions (model, version, body) VALUES (?, ?, ?)",
                (record.model, record.version, orjson.dumps(record.to_dict())),
            )
            _append_event(conn, event)
            planned = conn.execute("SELECT 1 FROM plans WHERE model = ?", (record.model,)).fetchone()
            if planned is None:
                self._write_plan(conn, first_plan, AuditEntry.of(first_plan, before=None, action="create"))
        return planned is None

    def get_version(self, model: str, version: str) -> ModelVersion | None:
        row = (
            self._conn()
            .execute("SELECT body FROM model_versions WHERE model = ? AND version = ?", (model, version))
            .fetchone()
        )
        return ModelVersion.from_dict(orjson.loads(row[0])) if row else None

    def list_versions(self, model: str) -> list[ModelVersion]:
        rows = self._conn().execute("SELECT body FROM model_versions WHERE model = ?", (model,)).fetchall()
        found = [ModelVersion.from_dict(orjson.loads(body)) for (body,) in rows]
        return sorted(found, key=lambda v: version_key(v.version))

    def list_models(self) -> list[str]:
        rows = self._conn().execute("SELECT DISTINCT model FROM model_versions ORDER BY model").fetchall()
        return [model for (model,) in rows]

    def archive_version(self, model: str, version: str, *, actor: str, reason: str, at: datetime) -> ModelVersion:
        with self._immediate() as conn:
            row = conn.execute(
                "SELECT body FROM model_versions WHERE model = ? AND version = ?", (model, version)
            ).fetchone()
            if row is None:
                raise unknown(model, version)
            record = ModelVersion.from_dict(orjson.loads(row[0]))
            if record.archived:
                return record
            plan_row = conn.execute("SELECT body FROM plans WHERE model = ?", (model,)).fetchone()
            plan = Plan.model_validate_json(plan_row[0]) if plan_row else None
            role = serving_role(plan, version)
            if plan is not None and role is not None:
                raise in_use(model, version, role, plan.revision)
            archived = record.archive(at=at, actor=actor, reason=reason)
            conn.execute(
                "UPDATE model_versions SET body = ? WHERE model = ? AND version = ?",
                (orjson.dumps(archived.to_dict()), model, version),
            )
            _append_event(conn, VersionEvent(model, version, "archive", at, actor, reason))
        return archived

    def version_events(self, model: str) -> list[VersionEvent]:
        rows = self._conn().execute("SELECT body FROM version_events WHERE model = ? ORDER BY seq", (model,)).fetchall()
        return [VersionEvent.from_dict(orjson.loads(body)) for (body,) in rows]


def _append_event(conn: sqlite3.Connection, event: VersionEvent) -> None:
    conn.execute("INSERT INTO version_events (model, body) VALUES (?, ?)", (event.model, orjson.dumps(event.to_dict())))
