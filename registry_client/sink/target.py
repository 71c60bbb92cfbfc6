"""The sink's PostgreSQL side: one connection of its own, every write idempotent, errors sorted for retry.

The sink writes through the PostgreSQL store's own functions (the log's binary ``COPY`` with the
``prediction_ids`` guard, the outcome and plan tables, the version catalog), so a batch delivered twice (a
sink killed between its commit and its XACK, an entry claimed from a consumer that was only slow) writes
nothing twice.

The connection is opened on first use and again after any loss, applying the migrations the database lacks
first (under their advisory lock). It sets ``synchronous_commit = on`` whatever the server's default: the
sink acknowledges entries in Redis once PostgreSQL committed them, so a commit must not be lost when the
server crashes (with it off, a crash loses the last commits, up to three times ``wal_writer_delay``, whose
entries were already acknowledged: on a test cluster with it off, ``pg_ctl stop -m immediate`` lost the
1,000 rows committed just before). Errors: :class:`~registry_client.errors.StoreUnavailableError` (the
server is down, a statement timed out: retry the same batch later) or
:class:`~registry_client.errors.StoreError`; :func:`is_bad_data` tells a value PostgreSQL refuses (a batch
to split) from everything else (a batch to retry).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import suppress
from typing import TypeVar

import psycopg

from registry_client.domain.model_version import ModelVersion, VersionEvent
from registry_client.domain.plan import AuditEntry, Plan
from registry_client.domain.records import OutcomeRecord, PredictionRecord
from registry_client.errors import StoreError, StoreUnavailableError, VersionExistsError
from registry_client.settings import redact_url
from registry_client.store.postgres import catalog, log, outcomes, plans, retention
from registry_client.store.postgres.connection import Connection, connect, mapped_errors
from registry_client.store.postgres.store import prepare_database

__all__ = ["PostgresTarget", "is_bad_data"]

T = TypeVar("T")


def is_bad_data(exc: StoreError) -> bool:
    """True when PostgreSQL refused a value itself (invalid text, a number out of range): retrying the same
    rows can never succeed, so they are written one by one and the refused ones set aside."""
    return isinstance(exc.__cause__, psycopg.DataError | psycopg.IntegrityError)


class PostgresTarget:
    """Not thread-safe: the sink's one loop owns it."""

    def __init__(self, url: str, *, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._conn: Connection | None = None
        self._partitions = log.Partitions()

    @property
    def shown_url(self) -> str:
        return redact_url(self.url)

    def _connection(self) -> Connection:
        if self._conn is None or self._conn.closed:
            prepare_database(self.url, self.timeout_s)
            conn = connect(self.url, self.timeout_s)
            with mapped_errors(self.url, "preparing the session"):
                conn.execute("SET synchronous_commit = on")  # the XACK after a commit trusts it is on disk
                log.create_staging(conn)
            self._conn = conn
            self._partitions.forget()
        return self._conn

    def _run(self, doing: str, work: Callable[[Connection], T]) -> T:
        try:
            conn = self._connection()
            with mapped_errors(self.url, doing):
                return work(conn)
        except StoreUnavailableError:
            self.close()  # the next call connects again
            raise

    def ping(self) -> None:
        self._run("pinging", lambda conn: conn.execute("SELECT 1"))

    def write_predictions(self, records: Sequence[PredictionRecord]) -> int:
        """Log the records not logged yet, in one transaction; how many were new."""
        if not records:
            return 0
        return self._run(
            f"writing {len(records)} prediction records", lambda conn: log.append(conn, self._partitions, records)
        )

    def write_outcomes(self, records: Sequence[OutcomeRecord]) -> None:
        """Store the outcomes in one transaction, none over a later-received one (``outcomes.merge_outcomes``)."""
        if records:
            self._run(f"writing {len(records)} outcomes", lambda conn: outcomes.merge_outcomes(conn, records))

    def revisions(self) -> dict[str, int]:
        """The latest audited plan revision of every model here."""
        return self._run("reading the audited revisions", plans.revisions)

    def mirror_plans(self, current: Mapping[str, Plan], entries: Sequence[AuditEntry]) -> int:
        """Copy plans and audit entries (``plans.mirror``); how many audit entries were new."""
        return self._run("copying plans", lambda conn: plans.mirror(conn, current, entries))

    def versions(self, model: str) -> list[ModelVersion]:
        """Every version of ``model`` here, archived ones too (``catalog.list_versions``)."""
        return self._run(f"listing the versions of {model!r}", lambda conn: catalog.list_versions(conn, model))

    def register_version(self, record: ModelVersion) -> bool:
        """Add ``record`` with its ``register`` event (``catalog.register_version``); False when the version is
        here already (another sink copied it), and then nothing is written.

        For a model with a plan here (the sink copies versions only then), the plan is left alone; the first
        plan given is what ``register`` would make, in case a plan is missing after all."""
        first_plan = Plan.initial(record.model, record.version, actor=record.created_by or "registry")
        try:
            self._run(
                f"copying {record.tag}", lambda conn: catalog.register_version(conn, record, first_plan=first_plan)
            )
        except VersionExistsError:
            return False
        return True

    def archive_version(self, event: VersionEvent) -> ModelVersion:
        """Archive ``event``'s version as ``event`` says (by, when, why), with its ``archive`` event
        (``catalog.archive_version``); a version archived here already is returned as it is, no event added."""
        return self._run(
            f"archiving {event.model}:{event.version}",
            lambda conn: catalog.archive_version(
                conn, event.model, event.version, actor=event.actor, reason=event.reason, at=event.at
            ),
        )

    def prune(self, days: int) -> retention.Pruned:
        """Drop the day partitions older than ``days`` days with their outcomes (``retention.prune``)."""
        pruned = self._run(f"dropping partitions older than {days} days", lambda conn: retention.prune(conn, days))
        self._partitions.forget()
        return pruned

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with suppress(psycopg.Error):  # a connection the server already dropped
                conn.close()
