"""The version catalog and the registry audit, copied from the gateways' Redis into PostgreSQL.

In this layout versions are registered on Redis (the store the gateways load them from), so ``canaryline
versions`` and ``canaryline models`` against PostgreSQL read the copy the sink keeps there
(``model_versions`` and ``version_events``), written through the PostgreSQL store's own catalog functions.

On the plan mirror's cadence, :meth:`VersionMirror.read` reads every registered model's registry audit from
Redis (one ``SMEMBERS``, then one ``LRANGE`` per model) and keeps the models with events this sink has not
seen copied yet; :meth:`VersionMirror.copy` replays those events, oldest first, against what PostgreSQL
holds of the model: a ``register`` of a version PostgreSQL lacks registers Redis' record there (the row,
and its event at the record's time by its actor), an ``archive`` of a version PostgreSQL holds unarchived
archives it with Redis' time, actor and reason (and its event). Each write commits before the next, so the
audit in PostgreSQL lists a model's events in Redis' order.

Idempotent: PostgreSQL refuses a version it has (``VersionExistsError``, nothing written) and returns one
archived already as it is (no second event), so a second pass, a restarted sink (which reads PostgreSQL
again) or two sinks copying at once write each record and each event once.

A model's versions are copied only once PostgreSQL holds its plan: registering there would otherwise create
the model's first plan with an audit entry of its own, and the plan mirror would then skip Redis' first
revision. The sink reads the audits *before* the plan mirror runs, and Redis creates a model's first plan
with its first version, so every model read has its plan copied in the same pass. A model still without a plan in
PostgreSQL waits for a later pass, as does one whose archive PostgreSQL refuses (a plan there serving the
version, changed in PostgreSQL directly), which is logged once per reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

from registry_client.domain.model_version import VersionEvent
from registry_client.errors import ModelNotFoundError, VersionInUseError
from registry_client.sink.target import PostgresTarget
from registry_client.store.redis import RedisStore

__all__ = ["Copied", "VersionMirror"]

log = structlog.get_logger("canaryline.sink")


@dataclass
class Copied:
    """What one copy did: versions this sink registered in PostgreSQL, archives PostgreSQL lacked when read
    (another sink may have written one first), and the models left for a later pass."""

    registered: int = 0
    archived: int = 0
    waiting: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        """Whether it wrote anything (what the sink logs)."""
        return bool(self.registered or self.archived)


class VersionMirror:
    def __init__(self, store: RedisStore, target: PostgresTarget) -> None:
        self.store = store
        self.target = target
        #: Per model, how many of its Redis audit events PostgreSQL is known to have.
        self._copied: dict[str, int] = {}
        self._refused: dict[str, str] = {}

    def read(self) -> dict[str, list[VersionEvent]]:
        """The Redis audit of every model with events not copied yet, by model."""
        audits: dict[str, list[VersionEvent]] = {}
        for model in self.store.list_models():
            events = self.store.version_events(model)
            if len(events) != self._copied.get(model):
                audits[model] = events
        return audits

    def copy(self, audits: dict[str, list[VersionEvent]]) -> Copied:
        """Replay ``audits`` (from :meth:`read`) in PostgreSQL, writing only what it lacks."""
        copied = Copied()
        if not audits:
            return copied
        planned = self.target.revisions()
        for model in sorted(audits):
            if model not in planned:
                copied.waiting.append(model)
                continue
            try:
                self._replay(model, audits[model], copied)
            except (VersionInUseError, ModelNotFoundError) as exc:
                copied.waiting.append(model)
                if self._refused.get(model) != exc.message:
                    self._refused[model] = exc.message
                    log.warning("sink.versions.refused", model=model, error=exc.message)
                continue
            self._refused.pop(model, None)
            self._copied[model] = len(audits[model])
        return copied

    def _replay(self, model: str, events: list[VersionEvent], copied: Copied) -> None:
        held = self.target.versions(model)
        present = {v.version for v in held}
        archived = {v.version for v in held if v.archived}
        records = {v.version: v for v in self.store.list_versions(model)}  # read after the events: has theirs
        for event in events:
            if event.action == "register" and event.version not in present:
                copied.registered += self.target.register_version(records[event.version])
                present.add(event.version)
            elif event.action == "archive" and event.version not in archived:
                self.target.archive_version(event)
                copied.archived += 1
                archived.add(event.version)
