"""Plans and their audit history, copied from the gateways' Redis into PostgreSQL.

``canaryline eval`` compares canary and stable on the plan revisions each canary ran in, which it reads
from the store's plan history (``store.history``): evaluated against PostgreSQL, it needs the history the
gateways wrote to Redis. The plans stay on Redis, where the gateways read and change them; PostgreSQL
holds a copy for analysts (``plans``, ``plan_history`` and the ``joined`` queries that use them).

:meth:`PlanMirror.sync` reads Redis' plans epoch (one GET) and copies only when it moved since the last
copy: each model's current plan, and the audit entries newer than the latest revision PostgreSQL holds.
The copy is idempotent (``plans.mirror``), so two sinks copying at once write each entry once. Rollout
state, leases and request counts are not copied: they are the gateways' working state, not history.
"""

from __future__ import annotations

from registry_client.domain.plan import AuditEntry
from registry_client.sink.target import PostgresTarget
from registry_client.store.redis import RedisStore

__all__ = ["PlanMirror"]


class PlanMirror:
    def __init__(self, store: RedisStore, target: PostgresTarget) -> None:
        self.store = store
        self.target = target
        self._epoch: int | None = None

    def sync(self) -> int | None:
        """Copy what changed since the last sync; how many audit entries were new, None when nothing moved."""
        epoch = self.store.plans_epoch()
        if epoch == self._epoch:
            return None
        current = self.store.plans()
        known = self.target.revisions()
        entries: list[AuditEntry] = []
        for model in sorted(current):
            entries += [e for e in self.store.history(model) if e.revision > known.get(model, 0)]
        new = self.target.mirror_plans(current, entries)
        self._epoch = epoch  # only once PostgreSQL has it: a failed copy is tried again
        return new
