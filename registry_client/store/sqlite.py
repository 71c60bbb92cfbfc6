"""The embedded default store: one SQLite file in WAL mode, shared by every local process.

Tables: ``plans`` and ``plan_history`` (routing plans and their audit entries), ``meta`` (the plans
epoch), ``predictions`` (the prediction log, in write order by ``seq``), ``outcomes`` (one row
per request_id: the outcome's JSON ``body``, ``observed_at`` and ``received_at``) and
``prediction_outcomes`` (the same, one row per prediction_id named by an outcome). For rollouts:
``rollouts`` (one row per model: its current rollout's state JSON and ``seq``), ``leases`` (the controller's
lease: holder, fencing token, expiry in epoch seconds; the row stays when released, so tokens only grow),
``request_counts`` (served and failed requests per model, version, revision, route and keyed) and
``request_buckets`` (the distinct routing-key buckets of keyed requests, per model, revision, version, route).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from registry_client.domain.plan import AuditEntry, Plan, PlanAction
from registry_client.domain.records import OutcomeRecord, PredictionRecord
from registry_client.domain.rollout import Fence
from registry_client.errors import PlanConflictError, StoreError
from registry_client.store.sqlite_catalog import CATALOG_SCHEMA, CatalogTables
from registry_client.store.sqlite_rollouts import ROLLOUT_SCHEMA, RolloutTables

__all__ = ["SQLiteStore"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS plans (
    model TEXT PRIMARY KEY, revision INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS plan_history (
    model TEXT NOT NULL, revision INTEGER NOT NULL, body BLOB NOT NULL,
    PRIMARY KEY (model, revision));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('plans_epoch', 0);
CREATE TABLE IF NOT EXISTS predictions (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    prediction_id TEXT NOT NULL UNIQUE,
    request_id TEXT NOT NULL,
    ts REAL NOT NULL,
    model TEXT NOT NULL,
    model_version TEXT NOT NULL,
    route TEXT NOT NULL,
    shadow INTEGER NOT NULL,
    body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS predictions_request ON predictions (request_id);
CREATE INDEX IF NOT EXISTS predictions_model_seq ON predictions (model, seq);
CREATE TABLE IF NOT EXISTS outcomes (
    request_id TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    observed_at REAL NOT NULL,
    received_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS prediction_outcomes (
    prediction_id TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    body BLOB NOT NULL,
    observed_at REAL NOT NULL,
    received_at REAL NOT NULL);
"""
_PAGE = 1000
_IDS_PER_QUERY = 500  # well under SQLite's limit on bound parameters


class SQLiteStore(RolloutTables, CatalogTables):
    """Thread-safe: each thread gets its own connection to the same file."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = Path(url.removeprefix("sqlite:///"))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the store folder {self.path.parent}: {exc}") from exc
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._conn().executescript(_SCHEMA + ROLLOUT_SCHEMA + CATALOG_SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
            except sqlite3.Error as exc:
                raise StoreError(f"cannot open the SQLite store at {self.path}: {exc}") from exc
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def ping(self) -> None:
        self._conn().execute("SELECT 1").fetchone()

    # -- plans ---------------------------------------------------------------------------------
    def get_plan(self, model: str) -> Plan | None:
        row = self._conn().execute("SELECT body FROM plans WHERE model = ?", (model,)).fetchone()
        return Plan.model_validate_json(row[0]) if row else None

    def plans(self) -> dict[str, Plan]:
        rows = self._conn().execute("SELECT model, body FROM plans ORDER BY model").fetchall()
        return {model: Plan.model_validate_json(body) for model, body in rows}

    def plans_epoch(self) -> int:
        row = self._conn().execute("SELECT value FROM meta WHERE key = 'plans_epoch'").fetchone()
        return int(row[0])

    def wait_plan_change(self, timeout: float) -> None:
        time.sleep(timeout)  # no notifications in SQLite: the caller's epoch check is a cheap read

    def save_plan(
        self,
        plan: Plan,
        *,
        before: Plan | None,
        action: PlanAction,
        evidence: dict[str, Any] | None = None,
        fence: Fence | None = None,
    ) -> AuditEntry:
        entry = AuditEntry.of(plan, before=before, action=action, evidence=evidence)
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._check_fence(conn, fence)
            row = conn.execute("SELECT revision FROM plans WHERE model = ?", (plan.model,)).fetchone()
            current = row[0] if row else 0
            if current != plan.revision - 1:
                raise PlanConflictError(
                    f"model {plan.model!r}: the plan is at revision {current}, "
                    f"not {plan.revision - 1}; read it again and retry"
                )
            self._write_plan(conn, plan, entry)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return entry

    def _write_plan(self, conn: sqlite3.Connection, plan: Plan, entry: AuditEntry) -> None:
        """Store ``plan`` with its audit entry and move the epoch, inside the caller's transaction."""
        body = plan.model_dump_json()
        conn.execute(
            "INSERT INTO plans (model, revision, body) VALUES (?, ?, ?) "
            "ON CONFLICT (model) DO UPDATE SET revision = excluded.revision, body = excluded.body",
            (plan.model, plan.revision, body),
        )
        conn.execute(
            "INSERT INTO plan_history (model, revision, body) VALUES (?, ?, ?)",
            (plan.model, plan.revision, entry.model_dump_json()),
        )
        conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'plans_epoch'")

    def history(self, model: str) -> list[AuditEntry]:
        rows = (
            self._conn().execute("SELECT body FROM plan_history WHERE model = ? ORDER BY revision", (model,)).fetchall()
        )
        return [AuditEntry.model_validate_json(body) for (body,) in rows]

    # -- prediction log ------------------------------------------------------------------------
    def append_predictions(self, records: Sequence[PredictionRecord]) -> None:
        if not records:
            return
        rows = [
            (
                r.prediction_id,
                r.request_id,
                r.ts,
                r.model,
                r.model_version,
                r.route,
                int(r.shadow),
                r.to_json(),
            )
            for r in records
        ]
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR IGNORE INTO predictions "
                    "(prediction_id, request_id, ts, model, model_version, route, shadow, body) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write {len(rows)} prediction records to {self.path}: {exc}") from exc

    def iter_predictions(
        self, model: str | None = None, *, since: float | None = None, until: float | None = None
    ) -> Iterator[PredictionRecord]:
        conditions, filters = ["seq > ?"], []
        for clause, value in (("model = ?", model), ("ts >= ?", since), ("ts < ?", until)):
            if value is not None:
                conditions.append(clause)
                filters.append(value)
        query = f"SELECT seq, body FROM predictions WHERE {' AND '.join(conditions)} ORDER BY seq LIMIT {_PAGE}"  # noqa: S608
        last = 0
        while True:
            rows = self._conn().execute(query, (last, *filters)).fetchall()
            if not rows:
                return
            for seq, body in rows:
                yield PredictionRecord(**orjson.loads(body))
                last = seq

    def count_predictions(self, model: str | None = None) -> int:
        if model is None:
            row = self._conn().execute("SELECT count(*) FROM predictions").fetchone()
        else:
            row = self._conn().execute("SELECT count(*) FROM predictions WHERE model = ?", (model,)).fetchone()
        return int(row[0])

    def predictions_for_request(self, request_id: str) -> list[PredictionRecord]:
        rows = (
            self._conn()
            .execute("SELECT body FROM predictions WHERE request_id = ? ORDER BY seq", (request_id,))
            .fetchall()
        )
        return [PredictionRecord(**orjson.loads(body)) for (body,) in rows]

    # -- outcomes ------------------------------------------------------------------------------
    def put_outcome(
        self,
        request_id: str,
        outcome: Any,
        observed_at: float,
        received_at: float,
        *,
        prediction_id: str | None = None,
    ) -> bool:
        body = orjson.dumps(outcome)
        exists: tuple[str, tuple[Any, ...]]
        write: tuple[str, tuple[Any, ...]]
        if prediction_id is None:
            exists = ("SELECT 1 FROM outcomes WHERE request_id = ?", (request_id,))
            write = (
                "INSERT INTO outcomes (request_id, body, observed_at, received_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (request_id) DO UPDATE SET body = excluded.body, "
                "observed_at = excluded.observed_at, received_at = excluded.received_at",
                (request_id, body, observed_at, received_at),
            )
        else:
            exists = ("SELECT 1 FROM prediction_outcomes WHERE prediction_id = ?", (prediction_id,))
            write = (
                "INSERT INTO prediction_outcomes (prediction_id, request_id, body, observed_at, received_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (prediction_id) DO UPDATE SET request_id = excluded.request_id, "
                "body = excluded.body, observed_at = excluded.observed_at, received_at = excluded.received_at",
                (prediction_id, request_id, body, observed_at, received_at),
            )
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                replaced = conn.execute(*exists).fetchone()
                conn.execute(*write)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot write the outcome of request {request_id!r} to {self.path}: {exc}") from exc
        return replaced is not None

    def get_outcomes(self, request_ids: Sequence[str]) -> dict[str, OutcomeRecord]:
        query = "SELECT request_id, body, observed_at, received_at, NULL FROM outcomes WHERE request_id IN "
        return {found.request_id: found for found in self._outcomes(query, request_ids)}

    def get_prediction_outcomes(self, prediction_ids: Sequence[str]) -> dict[str, OutcomeRecord]:
        query = (
            "SELECT request_id, body, observed_at, received_at, prediction_id FROM prediction_outcomes "
            "WHERE prediction_id IN "
        )
        return {found.prediction_id or "": found for found in self._outcomes(query, prediction_ids)}

    def _outcomes(self, query: str, ids: Sequence[str]) -> Iterator[OutcomeRecord]:
        """Rows of ``query`` (ending in ``IN ``) for ``ids``, in chunks SQLite can bind."""
        wanted = list(dict.fromkeys(ids))
        for start in range(0, len(wanted), _IDS_PER_QUERY):
            chunk = wanted[start : start + _IDS_PER_QUERY]
            marks = ", ".join("?" * len(chunk))
            rows = self._conn().execute(f"{query}({marks})", chunk).fetchall()
            for request_id, body, observed_at, received_at, prediction_id in rows:
                yield OutcomeRecord(request_id, orjson.loads(body), observed_at, received_at, prediction_id)

    def close(self) -> None:
        with self._lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()
