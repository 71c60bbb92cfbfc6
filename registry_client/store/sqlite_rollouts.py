"""The SQLite store's rollout tables: rollout state, the controller's lease, request counts.

A mixin of :class:`~registry_client.store.sqlite.SQLiteStore` (it needs its ``_conn`` and ``path``), kept
apart so the rollout part of the store contract reads as one piece. Every write is one ``BEGIN IMMEDIATE``
transaction, so a fenced write checks the lease and writes under the same lock: a controller whose lease
expired or was taken cannot save a plan or state after its successor did.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from registry_client.domain.request_counts import CountKey, RequestCount
from registry_client.domain.rollout import Fence, RolloutState
from registry_client.errors import LeaseLostError, RolloutConflictError, StoreError

__all__ = ["ROLLOUT_SCHEMA", "RolloutTables"]

ROLLOUT_SCHEMA = """
CREATE TABLE IF NOT EXISTS rollouts (model TEXT PRIMARY KEY, seq INTEGER NOT NULL, body BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS leases (
    name TEXT PRIMARY KEY, holder TEXT NOT NULL, token INTEGER NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS request_counts (
    model TEXT NOT NULL, version TEXT NOT NULL, revision INTEGER NOT NULL, route TEXT NOT NULL,
    keyed INTEGER NOT NULL, served INTEGER NOT NULL, failed INTEGER NOT NULL,
    PRIMARY KEY (model, revision, version, route, keyed));
CREATE TABLE IF NOT EXISTS request_buckets (
    model TEXT NOT NULL, revision INTEGER NOT NULL, version TEXT NOT NULL, route TEXT NOT NULL,
    bucket INTEGER NOT NULL, PRIMARY KEY (model, revision, version, route, bucket));
"""


class RolloutTables:
    path: Path

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError

    def get_rollout(self, model: str) -> RolloutState | None:
        row = self._conn().execute("SELECT body FROM rollouts WHERE model = ?", (model,)).fetchone()
        return RolloutState.model_validate_json(row[0]) if row else None

    def rollouts(self) -> dict[str, RolloutState]:
        rows = self._conn().execute("SELECT model, body FROM rollouts ORDER BY model").fetchall()
        return {model: RolloutState.model_validate_json(body) for model, body in rows}

    def save_rollout(self, state: RolloutState, *, fence: Fence | None = None) -> None:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            self._check_fence(conn, fence)
            row = conn.execute("SELECT seq FROM rollouts WHERE model = ?", (state.spec.model,)).fetchone()
            current = row[0] if row else 0
            if current != state.seq - 1:
                raise RolloutConflictError(
                    f"model {state.spec.model!r}: its rollout state is at seq {current}, not {state.seq - 1}; "
                    "read it again and retry"
                )
            conn.execute(
                "INSERT INTO rollouts (model, seq, body) VALUES (?, ?, ?) "
                "ON CONFLICT (model) DO UPDATE SET seq = excluded.seq, body = excluded.body",
                (state.spec.model, state.seq, state.model_dump_json()),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def acquire_lease(self, name: str, holder: str, ttl_s: float) -> Fence | None:
        conn = self._conn()
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            row = conn.execute("SELECT holder, token, expires_at FROM leases WHERE name = ?", (name,)).fetchone()
            if row is not None and row[0] != holder and row[2] > now:
                conn.execute("ROLLBACK")
                return None
            token = row[1] if row is not None and row[0] == holder and row[2] > now else (row[1] + 1 if row else 1)
            conn.execute(
                "INSERT INTO leases (name, holder, token, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) "
                "DO UPDATE SET holder = excluded.holder, token = excluded.token, expires_at = excluded.expires_at",
                (name, holder, token, now + ttl_s),
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
        return Fence(name=name, holder=holder, token=token)

    def release_lease(self, fence: Fence) -> None:
        self._conn().execute(
            "UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ? AND token = ?",
            (fence.name, fence.holder, fence.token),
        )

    def _check_fence(self, conn: sqlite3.Connection, fence: Fence | None) -> None:
        """Inside the caller's transaction: the lease is still ``fence``'s and unexpired."""
        if fence is None:
            return
        row = conn.execute("SELECT holder, token, expires_at FROM leases WHERE name = ?", (fence.name,)).fetchone()
        if row is None or (row[0], row[1]) != (fence.holder, fence.token) or row[2] <= time.time():
            raise LeaseLostError(
                f"lease {fence.name!r} is no longer held by {fence.holder!r} with token {fence.token}: "
                "another controller took over"
            )

    def add_request_counts(self, counts: Sequence[RequestCount]) -> None:
        if not counts:
            return
        rows = [
            (c.key.model, c.key.version, c.key.revision, c.key.route, int(c.key.keyed), c.served, c.failed)
            for c in counts
        ]
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT INTO request_counts (model, version, revision, route, keyed, served, failed) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (model, revision, version, route, keyed) DO UPDATE "
                    "SET served = served + excluded.served, failed = failed + excluded.failed",
                    rows,
                )
                conn.executemany(
                    "INSERT OR IGNORE INTO request_buckets (model, revision, version, route, bucket) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [(c.key.model, c.key.revision, c.key.version, c.key.route, b) for c in counts for b in c.buckets],
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"cannot add request counts to {self.path}: {exc}") from exc

    def request_counts(self, model: str, revisions: Sequence[int]) -> list[RequestCount]:
        wanted = sorted(set(revisions))
        if not wanted:
            return []
        marks = ", ".join("?" * len(wanted))
        rows = (
            self._conn()
            .execute(
                "SELECT version, revision, route, keyed, served, failed FROM request_counts "  # noqa: S608
                f"WHERE model = ? AND revision IN ({marks}) ORDER BY revision, version, route, keyed",
                (model, *wanted),
            )
            .fetchall()
        )
        buckets: dict[tuple[int, str, str], set[int]] = {}
        for revision, version, route, found in self._conn().execute(
            "SELECT revision, version, route, bucket FROM request_buckets "  # noqa: S608
            f"WHERE model = ? AND revision IN ({marks})",
            (model, *wanted),
        ):
            buckets.setdefault((revision, version, route), set()).add(found)
        return [
            RequestCount(
                CountKey(model, version, revision, route, bool(keyed)),
                served,
                failed,
                frozenset(buckets.get((revision, version, route), ())) if keyed else frozenset(),
            )
            for version, revision, route, keyed, served, failed in rows
        ]
