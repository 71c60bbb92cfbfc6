"""The store seam: routing plans with their audit history, the prediction log and outcomes.

Three implementations share one contract (``tests/integration/test_store_contract.py`` and
``test_outcome_contract.py``): :class:`~registry_client.store.sqlite.SQLiteStore` (embedded default),
:class:`~registry_client.store.redis.RedisStore` (shared by every replica, bounded history) and
:class:`~registry_client.store.postgres.PostgresStore` (shared, history kept until retention drops it).
All methods are synchronous and thread-safe; the gateway calls them from background threads.

A store that is also a :class:`VersionCatalog` (PostgreSQL) keeps a row per registered version for analysts;
the BentoML model store stays the registry's source of truth.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from registry_client.domain.plan import AuditEntry, Plan, PlanAction
from registry_client.domain.records import OutcomeRecord, PredictionRecord

__all__ = ["Store", "VersionCatalog"]


@runtime_checkable
class Store(Protocol):
    url: str

    def ping(self) -> None:
        """Raise StoreUnavailableError when the store cannot be reached."""

    # -- routing plans -------------------------------------------------------------------------
    def get_plan(self, model: str) -> Plan | None: ...

    def plans(self) -> dict[str, Plan]: ...

    def plans_epoch(self) -> int:
        """A number that changes whenever any plan changes: a cheap thing to poll."""

    def wait_plan_change(self, timeout: float) -> None:
        """Block until a plan may have changed or ``timeout`` seconds pass (a hint; callers re-check the epoch)."""

    def save_plan(self, plan: Plan, *, before: Plan | None, action: PlanAction) -> AuditEntry:
        """Store ``plan`` and append its audit entry, atomically.

        Succeeds only when the stored revision is still ``plan.revision - 1`` (none for revision 1);
        otherwise raises PlanConflictError and changes nothing.
        """

    def history(self, model: str) -> list[AuditEntry]:
        """Every change of the model's plan, oldest first."""

    # -- prediction log ------------------------------------------------------------------------
    def append_predictions(self, records: Sequence[PredictionRecord]) -> None:
        """Write all ``records`` in one round trip; a prediction_id already logged is skipped."""

    def iter_predictions(
        self, model: str | None = None, *, since: float | None = None, until: float | None = None
    ) -> Iterator[PredictionRecord]:
        """Logged records in write order (per model), streaming; ``since <= record.ts < until`` when given."""

    def count_predictions(self, model: str | None = None) -> int: ...

    def predictions_for_request(self, request_id: str) -> list[PredictionRecord]:
        """Every record of the request (the primary and any shadow one), or none."""

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
        """Store an outcome (one value per row), replacing any earlier one with the same key, atomically.

        The key is the request, or with ``prediction_id`` that primary prediction of the request.
        Returns True when an earlier outcome was replaced: each key has at most one outcome.
        """

    def get_outcomes(self, request_ids: Sequence[str]) -> dict[str, OutcomeRecord]:
        """The request outcomes of those requests that have one, in one round trip; unknown ids are absent."""

    def get_prediction_outcomes(self, prediction_ids: Sequence[str]) -> dict[str, OutcomeRecord]:
        """The outcomes naming those predictions, by prediction_id, in one round trip; others are absent."""

    def close(self) -> None: ...


@runtime_checkable
class VersionCatalog(Protocol):
    def record_version(self, version: Mapping[str, Any]) -> None:
        """Keep one registered version's row (name, version, task, framework, params, metrics, data_version,
        code_version, description, sha256, artifact_uri, created_at, created_by); a row already there stays."""
