"""Control-plane operations on routing plans: promote, canary, shadow, rollback.

Transport-agnostic: the gateway's admin API calls these; each validates against the registry,
checks ``expected_revision`` (409 when the plan moved on) and saves the next revision with its audit
entry in one atomic store write.

Rollback returns to the last safe state. A canary or shadow in the plan is what changed last on top of
a stable version, so rollback clears them and keeps stable. A plan that is already stable-only walks
back through the *stable history*: a stack built from the audit log where every change of stable
pushes the new version and a rollback to the version under the top pops the top. So rolling back twice
goes two stable versions back instead of flipping between the last two.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from registry_client.domain.plan import AuditEntry, Canary, Plan, PlanAction, Shadow, first_error
from registry_client.domain.rollout import Fence
from registry_client.domain.versions import validate_version
from registry_client.errors import ConflictError, ModelNotFoundError, PlanConflictError, PlanError
from registry_client.registry.registry import Registry

__all__ = ["ControlPlane", "stable_stack"]


def stable_stack(history: Sequence[AuditEntry]) -> list[str]:
    """The stable versions a rollback walks back through, most recent last."""
    stack: list[str] = []
    for entry in history:
        stable = entry.after.stable
        if entry.before is not None and entry.before.stable == stable:
            continue
        if entry.action == "rollback" and len(stack) >= 2 and stack[-2] == stable:
            stack.pop()
        else:
            stack.append(stable)
    return stack


class ControlPlane:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store = registry.store

    # -- reading -------------------------------------------------------------------------------
    def plan(self, model: str) -> Plan:
        plan = self.store.get_plan(model)
        if plan is None:
            raise ModelNotFoundError(f"model {model!r} has no routing plan: register a version of it first")
        return plan

    def history(self, model: str) -> list[AuditEntry]:
        self.plan(model)
        return self.store.history(model)

    # -- changing ------------------------------------------------------------------------------
    def promote(
        self, model: str, version: str, *, actor: str, reason: str, expected_revision: int | None
    ) -> AuditEntry:
        """Make ``version`` stable; a canary or shadow on that same version ends."""
        current = self._current(model, expected_revision)
        self._registered(model, version)
        if version == current.stable:
            raise PlanError(f"model {model!r}: version {version!r} is already stable")
        changes: dict[str, Any] = {"stable": version}
        if current.canary is not None and current.canary.version == version:
            changes["canary"] = None
        if current.shadow is not None and current.shadow.version == version:
            changes["shadow"] = None
        return self._save(current, "promote", actor, reason, changes)

    def set_canary(
        self,
        model: str,
        version: str,
        *,
        weight: float,
        sticky: bool,
        actor: str,
        reason: str,
        expected_revision: int | None,
    ) -> AuditEntry:
        current = self._current(model, expected_revision)
        self._registered(model, version)
        canary = self._build(Canary, model, version=version, weight=weight, sticky=sticky)
        return self._save(current, "canary", actor, reason, {"canary": canary})

    def clear_canary(self, model: str, *, actor: str, reason: str, expected_revision: int | None) -> AuditEntry:
        current = self._current(model, expected_revision)
        if current.canary is None:
            raise PlanError(f"model {model!r} has no canary to clear")
        return self._save(current, "clear_canary", actor, reason, {"canary": None})

    def set_shadow(
        self, model: str, version: str, *, sample: float, actor: str, reason: str, expected_revision: int | None
    ) -> AuditEntry:
        current = self._current(model, expected_revision)
        self._registered(model, version)
        shadow = self._build(Shadow, model, version=version, sample=sample)
        return self._save(current, "shadow", actor, reason, {"shadow": shadow})

    def clear_shadow(self, model: str, *, actor: str, reason: str, expected_revision: int | None) -> AuditEntry:
        current = self._current(model, expected_revision)
        if current.shadow is None:
            raise PlanError(f"model {model!r} has no shadow to clear")
        return self._save(current, "clear_shadow", actor, reason, {"shadow": None})

    def rollback(
        self, model: str, *, to: str | None = None, actor: str, reason: str, expected_revision: int | None
    ) -> AuditEntry:
        """Back to the last safe state, a stable-only plan; recorded like any change.

        A canary or shadow in the plan is cleared and stable stays. Only a plan that is already
        stable-only walks back the stable history. ``to`` makes any registered version stable and
        clears canary and shadow alike.
        """
        current = self._current(model, expected_revision)
        experimental = current.canary is not None or current.shadow is not None
        if to is None and experimental:
            to = current.stable
        elif to is None:
            stack = stable_stack(self.store.history(model))
            if len(stack) < 2:
                raise PlanError(
                    f"model {model!r} has no earlier stable version to roll back to (stable is {current.stable!r}) "
                    "and no canary or shadow to clear; name one with --to VERSION"
                )
            to = stack[-2]
        self._registered(model, to)
        if to == current.stable and not experimental:
            raise PlanError(
                f"model {model!r}: version {to!r} is already stable and there is no canary or shadow to clear"
            )
        return self._save(current, "rollback", actor, reason, {"stable": to, "canary": None, "shadow": None})

    def rollout_change(
        self,
        model: str,
        action: PlanAction,
        *,
        stable: str | None = None,
        canary: tuple[str, float, bool] | None = None,
        shadow: str | None = None,
        actor: str,
        reason: str,
        expected_revision: int,
        evidence: dict[str, Any],
        fence: Fence | None,
    ) -> AuditEntry:
        """A rollout controller's change: the plan becomes ``stable`` with ``canary`` (version, weight, sticky)
        and ``shadow`` (at 100 %), each None meaning none; saved with its ``evidence`` only while the plan is
        at ``expected_revision`` and, with ``fence``, while the controller still holds its lease."""
        current = self._current(model, expected_revision)
        changes: dict[str, Any] = {"canary": None, "shadow": None}
        if stable is not None:
            self._registered(model, stable)
            changes["stable"] = stable
        if canary is not None:
            self._registered(model, canary[0])
            changes["canary"] = self._build(Canary, model, version=canary[0], weight=canary[1], sticky=canary[2])
        if shadow is not None:
            self._registered(model, shadow)
            changes["shadow"] = self._build(Shadow, model, version=shadow, sample=100.0)
        plan = current.evolve(actor=actor, reason=reason, **changes)
        return self.store.save_plan(plan, before=current, action=action, evidence=evidence, fence=fence)

    # -- helpers -------------------------------------------------------------------------------
    def _current(self, model: str, expected_revision: int | None) -> Plan:
        current = self.plan(model)
        if expected_revision is not None and expected_revision != current.revision:
            raise PlanConflictError(
                f"model {model!r}: expected revision {expected_revision} but the plan is at revision "
                f"{current.revision} (changed by {current.actor}: {current.reason or 'no reason given'}); "
                "read it again and retry"
            )
        return current

    def _registered(self, model: str, version: str) -> None:
        """Only an exact registered version name enters a plan: the naming rule (422), then the registry (404)."""
        validate_version(version)
        record = self.registry.get(model, version)  # exact look-up, no alias: raises ModelNotFoundError naming both
        if record.archived:
            raise ConflictError(
                f"model {model!r} version {version!r} was archived by {record.archived_by} at "
                f"{record.archived_at:%Y-%m-%d %H:%M:%S}: register it again under a new version to serve it",
                code="version_archived",
            )

    def _build(self, cls: type[Canary] | type[Shadow], model: str, **fields: Any) -> Any:
        try:
            return cls(**fields)
        except ValueError as exc:
            raise PlanError(f"model {model!r}: {first_error(exc)}") from exc

    def _save(self, current: Plan, action: PlanAction, actor: str, reason: str, changes: dict[str, Any]) -> AuditEntry:
        return self.store.save_plan(
            current.evolve(actor=actor, reason=reason, **changes), before=current, action=action
        )
