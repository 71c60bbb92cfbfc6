"""The PostgreSQL store: plans, the prediction log, outcomes and rollouts shared by a fleet, with history that lasts.

Opening it checks the schema lazily: the first call that needs the database applies the migrations it
lacks (:mod:`~registry_client.store.postgres.migrations`), so a gateway worker starts while PostgreSQL is
down and serves from its spool until it comes back; ``canaryline serve`` checks the same first, and refuses
to start with one line when the database cannot be used (:meth:`PostgresStore.check`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal, TypeVar

from psycopg_pool import ConnectionPool

from registry_client.domain.aggregates import EvaluationAggregates
from registry_client.domain.model_version import ModelVersion, VersionEvent
from registry_client.domain.plan import AuditEntry, Plan, PlanAction
from registry_client.domain.records import OutcomeRecord, PredictionRecord
from registry_client.domain.request_counts import RequestCount
from registry_client.domain.rollout import Fence, RolloutState
from registry_client.errors import StoreSchemaError
from registry_client.settings import redact_url
from registry_client.store.postgres import catalog, evaluation, log, outcomes, plans, retention, rollouts
from registry_client.store.postgres.connection import Connection, connect, mapped_errors, open_pool
from registry_client.store.postgres.migrations import migrate

__all__ = ["PostgresStore", "prepare_database"]

T = TypeVar("T")


class PostgresStore:
    """Thread-safe: every call borrows a pooled connection for its own transaction."""

    def __init__(self, url: str, *, timeout_s: float = 2.0, pool_size: int = 4) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self.pool_size = pool_size
        self._pool: ConnectionPool[Connection] | None = None
        self._partitions = log.Partitions()
        self._listener = plans.PlanListener(url, timeout_s)
        self._opening = threading.Lock()

    # -- the schema ----------------------------------------------------------------------------
    def check(self) -> int:
        """Connect and bring the schema up to date now; the schema version. StoreError naming the problem."""
        return prepare_database(self.url, self.timeout_s)

    def _open(self) -> ConnectionPool[Connection]:
        with self._opening:
            if self._pool is None:
                self.check()
                self._pool = open_pool(
                    self.url, timeout_s=self.timeout_s, max_size=self.pool_size, prepare=log.create_staging
                )
            return self._pool

    @contextmanager
    def _conn(self, doing: str) -> Iterator[Connection]:
        pool = self._pool or self._open()
        with mapped_errors(self.url, doing), pool.connection() as conn:
            yield conn

    def _call(self, doing: str, work: Callable[[Connection], T]) -> T:
        with self._conn(doing) as conn:
            return work(conn)

    def ping(self) -> None:
        self._call("pinging", lambda conn: conn.execute("SELECT 1").fetchone())

    # -- plans ---------------------------------------------------------------------------------
    def get_plan(self, model: str) -> Plan | None:
        return self._call(f"reading the plan of {model!r}", lambda conn: plans.get_plan(conn, model))

    def plans(self) -> dict[str, Plan]:
        return self._call("reading plans", plans.plans)

    def plans_epoch(self) -> int:
        return self._call("reading the plans epoch", plans.epoch)

    def wait_plan_change(self, timeout: float) -> None:
        """Return on a NOTIFY from any plan change, or after ``timeout``; meant for one thread."""
        self._listener.wait(timeout)

    def save_plan(
        self,
        plan: Plan,
        *,
        before: Plan | None,
        action: PlanAction,
        evidence: dict[str, Any] | None = None,
        fence: Fence | None = None,
    ) -> AuditEntry:
        return self._call(
            f"saving the plan of {plan.model!r}",
            lambda conn: plans.save_plan(conn, plan, before=before, action=action, evidence=evidence, fence=fence),
        )

    def history(self, model: str) -> list[AuditEntry]:
        return self._call(f"reading the history of {model!r}", lambda conn: plans.history(conn, model))

    # -- prediction log ------------------------------------------------------------------------
    def append_predictions(self, records: Sequence[PredictionRecord]) -> None:
        if records:
            self._call(
                f"writing {len(records)} prediction records",
                lambda conn: log.append(conn, self._partitions, records),
            )

    def iter_predictions(
        self, model: str | None = None, *, since: float | None = None, until: float | None = None
    ) -> Iterator[PredictionRecord]:
        """Model by model (by name), each in write order, through a server-side cursor (``log.stream``)."""
        names = [model] if model is not None else self._call("listing logged models", log.models)
        for name in names:
            with self._conn(f"reading the log of {name!r}") as conn:
                yield from log.stream(conn, name, since, until)

    def count_predictions(self, model: str | None = None) -> int:
        return self._call("counting prediction records", lambda conn: log.count(conn, model))

    def predictions_for_request(self, request_id: str) -> list[PredictionRecord]:
        return self._call(f"looking up request {request_id!r}", lambda conn: log.for_request(conn, request_id))

    def prune(self, days: int, *, now: float | None = None, dry_run: bool = False) -> retention.Pruned:
        """Drop the day partitions wholly older than ``days`` days, with their outcomes (see ``retention``)."""
        pruned = self._call(
            f"dropping partitions older than {days} days",
            lambda conn: retention.prune(conn, days, now=now, dry_run=dry_run),
        )
        self._partitions.forget()
        return pruned

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
        return self._call(
            f"writing the outcome of request {request_id!r}",
            lambda conn: outcomes.put_outcome(
                conn, request_id, outcome, observed_at, received_at, prediction_id=prediction_id
            ),
        )

    def get_outcomes(self, request_ids: Sequence[str]) -> dict[str, OutcomeRecord]:
        return self._call(
            f"reading the outcomes of {len(request_ids)} requests",
            lambda conn: outcomes.get_outcomes(conn, request_ids),
        )

    def get_prediction_outcomes(self, prediction_ids: Sequence[str]) -> dict[str, OutcomeRecord]:
        return self._call(
            f"reading the outcomes of {len(prediction_ids)} predictions",
            lambda conn: outcomes.get_prediction_outcomes(conn, prediction_ids),
        )

    # -- rollouts ------------------------------------------------------------------------------
    def get_rollout(self, model: str) -> RolloutState | None:
        return self._call(f"reading the rollout of {model!r}", lambda conn: rollouts.get_rollout(conn, model))

    def rollouts(self) -> dict[str, RolloutState]:
        return self._call("reading rollouts", rollouts.rollouts)

    def save_rollout(self, state: RolloutState, *, fence: Fence | None = None) -> None:
        self._call(
            f"saving the rollout of {state.spec.model!r}",
            lambda conn: rollouts.save_rollout(conn, state, fence=fence),
        )

    def acquire_lease(self, name: str, holder: str, ttl_s: float) -> Fence | None:
        return self._call(f"taking the lease {name!r}", lambda conn: rollouts.acquire_lease(conn, name, holder, ttl_s))

    def release_lease(self, fence: Fence) -> None:
        self._call(f"releasing the lease {fence.name!r}", lambda conn: rollouts.release_lease(conn, fence))

    def add_request_counts(self, counts: Sequence[RequestCount]) -> None:
        if counts:
            self._call(f"adding {len(counts)} request counts", lambda conn: rollouts.add_request_counts(conn, counts))

    def request_counts(self, model: str, revisions: Sequence[int]) -> list[RequestCount]:
        return self._call(
            f"reading the request counts of {model!r}",
            lambda conn: rollouts.request_counts(conn, model, revisions),
        )

    # -- evaluation in the database ----------------------------------------------------------
    def evaluation_aggregates(
        self,
        model: str,
        *,
        task: Literal["classification", "regression"],
        since: float | None = None,
        until: float | None = None,
    ) -> EvaluationAggregates | None:
        """Scored and grouped by PostgreSQL (``evaluation``): a few rows fetched, whatever the log's length."""
        return self._call(
            f"evaluating {model!r}",
            lambda conn: evaluation.aggregates(conn, model, task=task, since=since, until=until),
        )

    # -- the version catalog -------------------------------------------------------------------
    def register_version(self, record: ModelVersion, *, first_plan: Plan) -> bool:
        return self._call(
            f"registering {record.tag}", lambda conn: catalog.register_version(conn, record, first_plan=first_plan)
        )

    def get_version(self, model: str, version: str) -> ModelVersion | None:
        return self._call(f"reading {model}:{version}", lambda conn: catalog.get_version(conn, model, version))

    def list_versions(self, model: str) -> list[ModelVersion]:
        return self._call(f"listing the versions of {model!r}", lambda conn: catalog.list_versions(conn, model))

    def list_models(self) -> list[str]:
        return self._call("listing registered models", catalog.list_models)

    def archive_version(self, model: str, version: str, *, actor: str, reason: str, at: datetime) -> ModelVersion:
        return self._call(
            f"archiving {model}:{version}",
            lambda conn: catalog.archive_version(conn, model, version, actor=actor, reason=reason, at=at),
        )

    def version_events(self, model: str) -> list[VersionEvent]:
        return self._call(f"reading the registry audit of {model!r}", lambda conn: catalog.version_events(conn, model))

    def close(self) -> None:
        self._listener.close()
        with self._opening:
            if self._pool is not None:
                self._pool.close()
            self._pool = None


def prepare_database(url: str, timeout_s: float) -> int:
    """Connect to ``url`` and apply the migrations it lacks; its schema version.

    StoreUnavailableError when it cannot be reached or refuses the login (wrong host, port, database or
    credentials: the message says which), StoreSchemaError when its schema is newer than this code.
    """
    conn = connect(url, timeout_s)
    try:
        with mapped_errors(url, "migrating the schema"):
            return migrate(conn)
    except StoreSchemaError as exc:
        raise StoreSchemaError(f"{redact_url(url)}: {exc.message}") from exc
    finally:
        conn.close()
