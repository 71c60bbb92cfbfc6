"""The store seam: routing plans with their audit history, the prediction log, outcomes, and rollouts.

Three implementations share one contract (``tests/integration/test_store_contract.py`` and
``test_outcome_contract.py``): :class:`~registry_client.store.sqlite.SQLiteStore` (embedded default),
:class:`~registry_client.store.redis.RedisStore` (shared by every replica, bounded history) and
:class:`~registry_client.store.postgres.PostgresStore` (shared, history kept until retention drops it).
All methods are synchronous and thread-safe; the gateway calls them from background threads.

**The version catalog** is the registry's source of truth on every store: one
:class:`~registry_client.domain.model_version.ModelVersion` per registered version (enough to load it on any
node), written atomically with the model's first plan, and the registry audit (:meth:`Store.version_events`:
every version registered or archived, with actor and time). Archiving is refused while a plan uses the version.

**Rollouts** (the last group) are what a new backend implements for progressive delivery: the rollout state
(compare-and-set on ``seq``), the controller's lease with a fencing token, and request counts. A ``fence``
given to :meth:`Store.save_plan` or :meth:`Store.save_rollout` is checked in the same atomic write: when the
lease it names has another token (or expired), the write raises LeaseLostError and changes nothing.

A store that is also an :class:`EvaluationQueries` (PostgreSQL) scores and groups a model's joined rows in
its own engine, so ``canaryline eval`` fetches a few aggregates instead of every row. A :class:`BoundedLog`
(Redis) forgets old records by its own bound and says what it trimmed, so metrics count it and ``eval`` warns.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from registry_client.domain.aggregates import EvaluationAggregates
from registry_client.domain.model_version import ModelVersion, VersionEvent
from registry_client.domain.plan import AuditEntry, Plan, PlanAction
from registry_client.domain.records import OutcomeRecord, PredictionRecord
from registry_client.domain.request_counts import RequestCount
from registry_client.domain.rollout import Fence, RolloutState

__all__ = ["BoundedLog", "EvaluationQueries", "LogBounds", "Store"]


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

    def save_plan(
        self,
        plan: Plan,
        *,
        before: Plan | None,
        action: PlanAction,
        evidence: dict[str, Any] | None = None,
        fence: Fence | None = None,
    ) -> AuditEntry:
        """Store ``plan`` and append its audit entry (with ``evidence``), atomically.

        Succeeds only when the stored revision is still ``plan.revision - 1`` (none for revision 1);
        otherwise raises PlanConflictError and changes nothing. With ``fence``, also only while that lease
        is held with that token (else LeaseLostError).
        """

    def history(self, model: str) -> list[AuditEntry]:
        """Every change of the model's plan, oldest first."""

    # -- the version catalog -------------------------------------------------------------------
    def register_version(self, record: ModelVersion, *, first_plan: Plan) -> bool:
        """Add ``record`` and its ``register`` event (by ``record.created_by``, at ``record.created``) and, when
        the model has no plan yet, ``first_plan`` (revision 1, audited ``create``), in one atomic write.

        True when the plan was created. VersionExistsError, and nothing written, when the model already has
        that version (archived or not)."""

    def get_version(self, model: str, version: str) -> ModelVersion | None:
        """The record of exactly ``model:version`` (archived ones too), or None."""

    def list_versions(self, model: str) -> list[ModelVersion]:
        """Every registered version of ``model``, archived ones too, in numeric order (``v2`` before ``v10``)."""

    def list_models(self) -> list[str]:
        """The models with at least one registered version, by name."""

    def archive_version(self, model: str, version: str, *, actor: str, reason: str, at: datetime) -> ModelVersion:
        """Mark the version archived and append its ``archive`` event, atomically with checking the plan.

        ModelNotFoundError for an unknown version, VersionInUseError (409) while the model's plan uses it as
        stable, canary or shadow; a version archived already is returned as it is (no second event)."""

    def version_events(self, model: str) -> list[VersionEvent]:
        """The model's registry audit: every version registered or archived, oldest first."""

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

    # -- rollouts ------------------------------------------------------------------------------
    def get_rollout(self, model: str) -> RolloutState | None:
        """The model's current (or last) rollout, or None."""

    def rollouts(self) -> dict[str, RolloutState]:
        """Every model's current (or last) rollout, by model."""

    def save_rollout(self, state: RolloutState, *, fence: Fence | None = None) -> None:
        """Store ``state`` as the model's rollout, atomically, only when the stored one has ``seq`` =
        ``state.seq - 1`` (none stored for ``seq`` 1); else RolloutConflictError. ``fence`` as in save_plan."""

    def acquire_lease(self, name: str, holder: str, ttl_s: float) -> Fence | None:
        """Take or renew the lease ``name`` for ``ttl_s`` seconds; its fence, or None while another holds it.

        Renewing keeps the token; a new holder (the lease was free or expired) gets a larger token than
        any before it."""

    def release_lease(self, fence: Fence) -> None:
        """Give the lease up at once (a clean shutdown), when ``fence`` still holds it."""

    def add_request_counts(self, counts: Sequence[RequestCount]) -> None:
        """Add ``counts`` to the stored totals, in one round trip."""

    def request_counts(self, model: str, revisions: Sequence[int]) -> list[RequestCount]:
        """The totals of ``model`` under those plan revisions, one per key."""

    def close(self) -> None: ...


@runtime_checkable
class EvaluationQueries(Protocol):
    def evaluation_aggregates(
        self,
        model: str,
        *,
        task: Literal["classification", "regression"],
        since: float | None = None,
        until: float | None = None,
    ) -> EvaluationAggregates | None:
        """The aggregates of ``model``'s joined rows with ``since <= ts < until`` (the joined view's rows, as
        :func:`~registry_client.analysis.joined.joined_rows` yields them), computed by the store.

        None when some row cannot be scored there (a non-numeric regression value, a record whose inputs,
        predictions and outcomes differ in length, a boolean label against a number): the caller then
        evaluates row by row, which gives the verdict the row deserves and names it."""


@dataclass(frozen=True, slots=True)
class LogBounds:
    """What a bounded log still holds of one model: its oldest record's ts (None: no record), how many
    records its bound has removed so far (every writer's), the bound, and how long outcomes are kept."""

    oldest_ts: float | None
    trimmed: int
    max_records: int
    outcome_ttl_s: int


@runtime_checkable
class BoundedLog(Protocol):
    """A store whose log forgets old records by its own bound (Redis: the stream's MAXLEN)."""

    def take_trimmed(self) -> dict[str, int]:
        """Records removed from each model's log by this process's writes since the last call."""

    def log_bounds(self, model: str) -> LogBounds: ...
